// What a tenant may do: its budgets (tokens per day, model requests per minute, prompts running
// at once, over the whole tenant and for each subject in it) and what its conversations may be
// set to (models, max_tokens, thinking budget, MCP servers, how many conversations). A field
// left out has no limit. Stored as JSON (tenant_policy.policy) and configured as JSON
// (PARLEY_TENANT_LIMITS), so both are read by the one parser here.
import type { ConversationSettings } from './records.ts';

export interface Budgets {
  /** Tokens of every kind the API reports (input, output, cache writes and reads) per UTC day. */
  tokensPerDay?: number;
  /** Model requests (each attempt and tool round) per minute. */
  requestsPerMinute?: number;
  /** Conversations with a prompt queued or running at once (each runs one prompt at a time). */
  runningPrompts?: number;
}

export interface TenantPolicy extends Budgets {
  /** Budgets of each subject (end user) of the tenant, on top of the tenant's. */
  subject?: Budgets;
  /** Models its conversations may use. */
  models?: string[];
  /** Largest max_tokens a conversation may set. */
  maxTokens?: number;
  /** Largest thinking budget a conversation may set. */
  thinkingBudgetTokens?: number;
  /** MCP servers whose tools its conversations may enable. */
  mcpServers?: string[];
  /** Conversations it may hold at once. */
  conversations?: number;
}

export const BUDGET_FIELDS = ['tokensPerDay', 'requestsPerMinute', 'runningPrompts'] as const;
const COUNT_FIELDS = ['maxTokens', 'thinkingBudgetTokens', 'conversations'] as const;
const LIST_FIELDS = ['models', 'mcpServers'] as const;
const MAX_COUNT = 1e15;

/** The policy in `value`, or the problems with it (each naming the field at `where`). */
export function parsePolicy(value: unknown, where: string): { policy: TenantPolicy } | { problems: string[] } {
  const problems: string[] = [];
  if (!isObject(value)) return { problems: [`${where} must be a JSON object such as {"tokensPerDay": 1000000, "models": ["claude-sonnet-4-5"]}`] };
  const policy: TenantPolicy = {};
  for (const [key, item] of Object.entries(value)) {
    const at = `${where}.${key}`;
    if (isField(BUDGET_FIELDS, key) || isField(COUNT_FIELDS, key)) {
      if (item === null) continue;
      if (!Number.isSafeInteger(item) || (item as number) < 0 || (item as number) > MAX_COUNT) problems.push(`${at} must be a whole number from 0 up`);
      else policy[key] = item as number;
    } else if (isField(LIST_FIELDS, key)) {
      if (item === null) continue;
      if (!Array.isArray(item) || !item.every((name) => typeof name === 'string' && name !== '')) problems.push(`${at} must be a list of names`);
      else policy[key] = [...new Set(item as string[])];
    } else if (key === 'subject') {
      if (item === null) continue;
      const subject = parseBudgets(item, at, problems);
      if (subject) policy.subject = subject;
    } else {
      problems.push(`${at} is not a limit; the limits are ${[...BUDGET_FIELDS, 'subject', ...COUNT_FIELDS, ...LIST_FIELDS].join(', ')}`);
    }
  }
  return problems.length > 0 ? { problems } : { policy };
}

/** parsePolicy of a JSON text (PARLEY_TENANT_LIMITS); a syntax error is not quoted, as the text may be a secret's neighbour. */
export function parsePolicyJson(text: string, where: string): { policy: TenantPolicy } | { problems: string[] } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { problems: [`${where} must be JSON, such as {"tokensPerDay": 1000000, "subject": {"requestsPerMinute": 20}}`] };
  }
  return parsePolicy(value, where);
}

function parseBudgets(value: unknown, where: string, problems: string[]): Budgets | null {
  if (!isObject(value)) {
    problems.push(`${where} must be an object of ${BUDGET_FIELDS.join(', ')}`);
    return null;
  }
  const budgets: Budgets = {};
  for (const [key, item] of Object.entries(value)) {
    if (!isField(BUDGET_FIELDS, key)) problems.push(`${where}.${key} is not a budget; the budgets are ${BUDGET_FIELDS.join(', ')}`);
    else if (item === null) continue;
    else if (!Number.isSafeInteger(item) || (item as number) < 0 || (item as number) > MAX_COUNT) problems.push(`${where}.${key} must be a whole number from 0 up`);
    else budgets[key] = item as number;
  }
  return budgets;
}

/** `override`'s fields over `defaults`' (the subject budgets merged field by field too). */
export function mergePolicy(defaults: TenantPolicy, override: TenantPolicy): TenantPolicy {
  const merged: TenantPolicy = { ...defaults, ...override };
  if (defaults.subject || override.subject) merged.subject = { ...defaults.subject, ...override.subject };
  return merged;
}

/** True when nothing is limited: sending needs no look at the tenant's usage. */
export function hasBudgets(policy: TenantPolicy): boolean {
  return BUDGET_FIELDS.some((field) => policy[field] !== undefined || policy.subject?.[field] !== undefined);
}

/** Why `settings` are not allowed for the tenant (naming the field to change), or null. */
export function settingsViolation(policy: TenantPolicy, settings: ConversationSettings, mcpServerOf: (tool: string) => string | null): string | null {
  if (policy.models && !policy.models.includes(settings.model)) {
    return `model "${settings.model}" is not allowed for this tenant; it may use ${listOf(policy.models)}`;
  }
  if (policy.maxTokens !== undefined && settings.maxTokens > policy.maxTokens) {
    return `max_tokens ${settings.maxTokens} is more than this tenant may set (${policy.maxTokens})`;
  }
  if (policy.thinkingBudgetTokens !== undefined && settings.thinkingBudgetTokens > policy.thinkingBudgetTokens) {
    return policy.thinkingBudgetTokens === 0
      ? 'extended thinking is not allowed for this tenant (thinking_budget_tokens must be 0)'
      : `thinking_budget_tokens ${settings.thinkingBudgetTokens} is more than this tenant may set (${policy.thinkingBudgetTokens})`;
  }
  const allowed = policy.mcpServers;
  if (allowed) {
    for (const tool of settings.enabledTools) {
      const server = mcpServerOf(tool);
      if (server !== null && !allowed.includes(server)) {
        return `enabled tool "${tool}" belongs to MCP server "${server}", which this tenant may not enable; it may enable ${listOf(allowed)}`;
      }
    }
  }
  return null;
}

function listOf(names: readonly string[]): string {
  return names.length === 0 ? 'none' : names.map((name) => `"${name}"`).join(', ');
}

function isField<T extends string>(fields: readonly T[], key: string): key is T {
  return (fields as readonly string[]).includes(key);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
