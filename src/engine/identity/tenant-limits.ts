import type { ConversationSettings } from '../../domain/records.ts';
import { requestErrors } from '../../domain/request-errors.ts';
import { mergePolicy, settingsViolation, type TenantPolicy } from '../../domain/tenant-policy.ts';
import type { LimitStore } from '../../store/limit-store.ts';

export interface TenantLimitsOptions {
  /** Every tenant's policy where it stored none of its own (PARLEY_TENANT_LIMITS). */
  defaults: TenantPolicy;
  /**
   * How long a tenant's stored policy is trusted before it is read again: the bound on how long
   * a changed limit takes to apply on every instance (the same bound as for a revoked key).
   */
  cacheMs: number;
  /** The configured MCP server whose tools a tool name belongs to, or null. */
  mcpServerOf: (tool: string) => string | null;
}

/** Tenants whose policy is cached at once; past this the cache starts again. */
const MAX_CACHED = 10_000;

/**
 * Each tenant's effective policy (its stored one over the configured defaults), cached per
 * instance for `cacheMs`, and the checks of a conversation's settings against it. Budgets are
 * checked where the usage is counted, in the stores' transactions.
 */
export class TenantLimits {
  readonly #store: LimitStore;
  readonly #options: TenantLimitsOptions;
  readonly #cached = new Map<string, { policy: TenantPolicy; until: number }>();

  constructor(store: LimitStore, options: TenantLimitsOptions) {
    this.#store = store;
    this.#options = options;
  }

  async policy(tenantId: string): Promise<TenantPolicy> {
    const hit = this.#cached.get(tenantId);
    if (hit && hit.until > Date.now()) return hit.policy;
    const stored = await this.#store.policy(tenantId);
    const policy = stored ? mergePolicy(this.#options.defaults, stored) : this.#options.defaults;
    if (this.#cached.size >= MAX_CACHED) this.#cached.clear();
    this.#cached.set(tenantId, { policy, until: Date.now() + this.#options.cacheMs });
    return policy;
  }

  /** Throws permission_denied, naming the setting, when the tenant may not use these settings. */
  async checkSettings(tenantId: string, settings: ConversationSettings): Promise<TenantPolicy> {
    const policy = await this.policy(tenantId);
    const violation = settingsViolation(policy, settings, this.#options.mcpServerOf);
    if (violation !== null) throw requestErrors.notAllowed(violation);
    return policy;
  }
}

/** True when the policy limits settings at all, so that a send needs to read the conversation's. */
export function limitsSettings(policy: TenantPolicy): boolean {
  return policy.models !== undefined || policy.maxTokens !== undefined || policy.thinkingBudgetTokens !== undefined || policy.mcpServers !== undefined;
}
