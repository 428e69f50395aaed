// A conversation's context management setting, and what it comes to for one model request once
// the model's window and max_tokens are known. Stored with the conversation's settings; rows
// written before it existed read as the defaults.

export type ContextStrategy = 'clear_then_compact' | 'clear_tool_uses' | 'off';

export interface ContextPolicy {
  strategy: ContextStrategy;
  /** Input tokens from which the history is made to fit; 0: DEFAULT_TRIGGER_SHARE of the window. */
  triggerTokens: number;
  /** Newest tool uses that keep their input and result when older ones are cleared; 0: the default. */
  keepToolUses: number;
}

export const DEFAULT_CONTEXT_POLICY: ContextPolicy = { strategy: 'clear_then_compact', triggerTokens: 0, keepToolUses: 0 };

/** The share of the window a history may fill before it is made to fit, when no trigger is set. */
export const DEFAULT_TRIGGER_SHARE = 0.8;
export const DEFAULT_KEEP_TOOL_USES = 3;

/** What one request may hold, in input tokens, and what may be done to make it fit. */
export interface ContextBudget {
  strategy: ContextStrategy;
  /** Past this, the history is made to fit. */
  triggerTokens: number;
  /** Past this, the API refuses the request: the window less the room max_tokens needs. */
  limitTokens: number;
  keepToolUses: number;
}

export function contextBudget(policy: ContextPolicy, windowTokens: number, maxTokens: number): ContextBudget {
  const limitTokens = Math.max(0, windowTokens - maxTokens);
  const trigger = policy.triggerTokens > 0 ? policy.triggerTokens : Math.floor(windowTokens * DEFAULT_TRIGGER_SHARE);
  return {
    strategy: policy.strategy,
    triggerTokens: Math.min(trigger, limitTokens),
    limitTokens,
    keepToolUses: policy.keepToolUses > 0 ? policy.keepToolUses : DEFAULT_KEEP_TOOL_USES,
  };
}

/** A stored policy, or the defaults for settings stored before policies existed. */
export function contextPolicyOf(stored: Partial<ContextPolicy> | undefined): ContextPolicy {
  return { ...DEFAULT_CONTEXT_POLICY, ...stored };
}
