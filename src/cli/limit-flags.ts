// The `limits` command's flags, turned into a change of a tenant's stored policy. Pure: the
// command reads the stored policy, applies this, and writes the result.
import { parsePolicy, type TenantPolicy } from '../domain/tenant-policy.ts';

/** Flag → the policy field it sets (`subject.` fields are the budgets of each subject). */
export const LIMIT_FLAGS = {
  'tokens-per-day': 'tokensPerDay',
  'requests-per-minute': 'requestsPerMinute',
  'running-prompts': 'runningPrompts',
  'subject-tokens-per-day': 'subject.tokensPerDay',
  'subject-requests-per-minute': 'subject.requestsPerMinute',
  'subject-running-prompts': 'subject.runningPrompts',
  models: 'models',
  'max-tokens': 'maxTokens',
  'thinking-budget': 'thinkingBudgetTokens',
  'mcp-servers': 'mcpServers',
  conversations: 'conversations',
} as const;

export type LimitFlag = keyof typeof LIMIT_FLAGS;
const LISTS = new Set<string>(['models', 'mcpServers']);

/** `current` with each flag given applied (`none` removes the limit), or the first problem. */
export function applyLimitFlags(current: TenantPolicy, flags: Partial<Record<LimitFlag, string>>): { policy: TenantPolicy } | { problem: string } {
  const draft: Record<string, unknown> = { ...current, subject: { ...current.subject } };
  for (const [flag, raw] of Object.entries(flags) as Array<[LimitFlag, string | undefined]>) {
    if (raw === undefined) continue;
    const field = LIMIT_FLAGS[flag];
    const [target, key] = field.startsWith('subject.') ? [draft.subject as Record<string, unknown>, field.slice('subject.'.length)] : [draft, field];
    const value = raw.trim();
    if (value === 'none') {
      delete target[key];
    } else if (LISTS.has(key)) {
      target[key] = value === '' ? [] : value.split(',').map((name) => name.trim());
    } else if (/^\d+$/.test(value)) {
      target[key] = Number(value);
    } else {
      return { problem: `--${flag} must be a whole number, or none to remove the limit` };
    }
  }
  if (Object.keys(draft.subject as object).length === 0) delete draft.subject;
  const parsed = parsePolicy(draft, 'limits');
  if ('problems' in parsed) return { problem: parsed.problems.join('; ').replaceAll('limits.', '--') };
  return { policy: parsed.policy };
}

/** One line per limit, as `field: value`, or "no limits". */
export function describePolicy(policy: TenantPolicy): string {
  const lines: string[] = [];
  for (const [flag, field] of Object.entries(LIMIT_FLAGS)) {
    const value = field.startsWith('subject.')
      ? policy.subject?.[field.slice('subject.'.length) as keyof NonNullable<TenantPolicy['subject']>]
      : policy[field as Exclude<typeof field, `subject.${string}`>];
    if (value !== undefined) lines.push(`  ${flag}: ${Array.isArray(value) ? value.join(',') || '(none)' : value}`);
  }
  return lines.length === 0 ? '  no limits' : lines.join('\n');
}
