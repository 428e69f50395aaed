import { setTimeout as sleep } from 'node:timers/promises';
import { describeRefusal, tokenRefusal, type BudgetRefusal } from '../../domain/budget.ts';
import type { TenantPolicy } from '../../domain/tenant-policy.ts';
import type { LimitStore } from '../../store/limit-store.ts';
import type { PromptSlot } from '../claim-loop.ts';
import type { TenantLimits } from '../identity/tenant-limits.ts';

/** The tenant's (or subject's) daily tokens ran out between the send and the first model request. */
export class BudgetExhausted extends Error {
  readonly refusal: BudgetRefusal;
  constructor(refusal: BudgetRefusal) {
    super(describeRefusal(refusal));
    this.name = 'BudgetExhausted';
    this.refusal = refusal;
  }
}

/** Who a model request is billed to: the conversation's tenant and subject. */
export interface Payer {
  tenantId: string;
  subjectId: string | null;
}

/**
 * The budgets as a running prompt meets them, before each of its model requests. SendMessage
 * already refused what was over budget; this covers what changed while the message waited. A
 * turn that has started is never cut off: only the first request of an attempt can be refused
 * (daily tokens) or held back (requests per minute, until the next minute); later rounds of its
 * tool loop are counted and go ahead.
 */
export class BudgetGate {
  readonly #limits: TenantLimits;
  readonly #store: LimitStore;

  constructor(limits: TenantLimits, store: LimitStore) {
    this.#limits = limits;
    this.#store = store;
  }

  /** Resolves when the request may be made; throws BudgetExhausted, or the signal's reason. */
  async beforeRequest(payer: Payer, firstOfAttempt: boolean, signal: AbortSignal, slot?: PromptSlot): Promise<void> {
    const policy = await this.#limits.policy(payer.tenantId);
    if (firstOfAttempt && (policy.tokensPerDay !== undefined || policy.subject?.tokensPerDay !== undefined)) {
      const refusal = tokenRefusal(policy, await this.#store.read(payer.tenantId, payer.subjectId));
      if (refusal) throw new BudgetExhausted(refusal);
    }
    const limits = perMinute(policy, payer);
    if (limits === null) return;
    if (!firstOfAttempt) {
      await this.#store.takeRequest(payer.tenantId, payer.subjectId, null);
      return;
    }
    for (;;) {
      const taken = await this.#store.takeRequest(payer.tenantId, payer.subjectId, limits);
      if (taken.taken) return;
      // Up to a minute: the place goes to another tenant's prompt meanwhile.
      slot?.park();
      try {
        await sleep(taken.retryAfterMs, undefined, { signal });
      } finally {
        await slot?.resume(signal);
      }
    }
  }
}

function perMinute(policy: TenantPolicy, payer: Payer): { tenant?: number; subject?: number } | null {
  const tenant = policy.requestsPerMinute;
  const subject = payer.subjectId === null ? undefined : policy.subject?.requestsPerMinute;
  if (tenant === undefined && subject === undefined) return null;
  return { ...(tenant === undefined ? {} : { tenant }), ...(subject === undefined ? {} : { subject }) };
}
