// Whether a tenant (and the subject a conversation belongs to) has budget left for one more
// prompt or model request. Pure: the stores read the usage, this decides.
import { BUDGET_FIELDS, type Budgets, type TenantPolicy } from './tenant-policy.ts';

/** What one scope (the whole tenant, or one subject) has used in the current windows. */
export interface BudgetUsage {
  /** Tokens of model requests that ended this UTC day. */
  tokensToday: number;
  /** Model requests started in this minute. */
  requestsThisMinute: number;
  /** Conversations with a prompt queued or running. */
  runningPrompts: number;
}

export interface UsageReading {
  tenant: BudgetUsage;
  /** null: the conversation has no subject, so only the tenant's budgets apply. */
  subject: BudgetUsage | null;
  /** Whether the conversation already has a prompt queued or running (one more adds no running prompt). */
  conversationActive: boolean;
  /** The database's clock, which every instance shares: windows are measured on it. */
  now: Date;
}

export type BudgetName = keyof Budgets;

export interface BudgetRefusal {
  scope: 'tenant' | 'subject';
  budget: BudgetName;
  limit: number;
  /** When trying again can succeed. */
  retryAfterMs: number;
}

/** How long a caller refused for running prompts is told to wait: a prompt's length is unknown. */
const RUNNING_RETRY_MS = 1_000;

/** The first budget that one more prompt would exceed, or null. */
export function sendRefusal(policy: TenantPolicy, reading: UsageReading, only: readonly BudgetName[] = BUDGET_FIELDS): BudgetRefusal | null {
  const scopes: Array<['tenant' | 'subject', Budgets, BudgetUsage]> = [['tenant', policy, reading.tenant]];
  if (reading.subject && policy.subject) scopes.push(['subject', policy.subject, reading.subject]);
  for (const [scope, budgets, used] of scopes) {
    if (only.includes('tokensPerDay') && budgets.tokensPerDay !== undefined && used.tokensToday >= budgets.tokensPerDay) {
      return { scope, budget: 'tokensPerDay', limit: budgets.tokensPerDay, retryAfterMs: msUntilNextDay(reading.now) };
    }
    if (only.includes('requestsPerMinute') && budgets.requestsPerMinute !== undefined && used.requestsThisMinute >= budgets.requestsPerMinute) {
      return { scope, budget: 'requestsPerMinute', limit: budgets.requestsPerMinute, retryAfterMs: msUntilNextMinute(reading.now) };
    }
    if (only.includes('runningPrompts') && budgets.runningPrompts !== undefined && !reading.conversationActive && used.runningPrompts >= budgets.runningPrompts) {
      return { scope, budget: 'runningPrompts', limit: budgets.runningPrompts, retryAfterMs: RUNNING_RETRY_MS };
    }
  }
  return null;
}

/** The first daily token budget already spent, or null: checked before a prompt's first model request. */
export function tokenRefusal(policy: TenantPolicy, reading: UsageReading): BudgetRefusal | null {
  return sendRefusal(policy, reading, ['tokensPerDay']);
}

function msUntilNextDay(now: Date): number {
  const next = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1);
  return next - now.getTime();
}

export function msUntilNextMinute(now: Date): number {
  return 60_000 - (now.getTime() % 60_000);
}

/** The sentence a refused caller reads: which budget, and when to try again. */
export function describeRefusal(refusal: BudgetRefusal): string {
  const whose = refusal.scope === 'tenant' ? 'this tenant' : "this conversation's subject";
  const seconds = Math.ceil(refusal.retryAfterMs / 1000);
  switch (refusal.budget) {
    case 'tokensPerDay':
      return `${whose} has used its ${refusal.limit} tokens for today (UTC); retry in ${seconds} s, after midnight UTC`;
    case 'requestsPerMinute':
      return `${whose} has made its ${refusal.limit} model requests for this minute; retry in ${seconds} s`;
    case 'runningPrompts':
      return `${whose} already has ${refusal.limit} conversations answering at once, the most it may have; retry when one is answered`;
  }
}
