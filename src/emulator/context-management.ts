import { invalidRequest } from './errors.ts';

/**
 * The Messages request field `context_management` (beta `context-management-2025-06-27`), checked
 * as the API checks it. Shapes and defaults follow `BetaContextManagementConfig` in
 * @anthropic-ai/sdk and the context editing docs (trigger 100,000 input tokens, keep 3 tool uses).
 * Messages follow the API's validation style (a dotted path, the tag of a tagged union in it).
 */

export const CONTEXT_MANAGEMENT_BETA = 'context-management-2025-06-27';
export const CLEAR_TOOL_USES = 'clear_tool_uses_20250919';
export const CLEAR_THINKING = 'clear_thinking_20251015';
/** Server-side compaction: a known tag of the API that the emulator does not implement. */
const COMPACT = 'compact_20260112';

export interface ClearToolUsesEdit {
  readonly type: typeof CLEAR_TOOL_USES;
  readonly trigger: { readonly type: 'input_tokens' | 'tool_uses'; readonly value: number };
  readonly keep: number;
  readonly clearAtLeast: number | undefined;
  readonly excludeTools: ReadonlySet<string>;
  /** `true`: every cleared use loses its input too; a set: only uses of these tools do. */
  readonly clearToolInputs: boolean | ReadonlySet<string>;
}

export interface ClearThinkingEdit {
  readonly type: typeof CLEAR_THINKING;
  /** Assistant turns whose thinking stays, counted from the newest. */
  readonly keep: number | 'all';
}

export type ContextEdit = ClearToolUsesEdit | ClearThinkingEdit;

export interface ContextManagement {
  readonly edits: readonly ContextEdit[];
}

type Rec = Record<string, unknown>;

const isRecord = (value: unknown): value is Rec => typeof value === 'object' && value !== null && !Array.isArray(value);

const DEFAULT_TRIGGER_TOKENS = 100_000;
const DEFAULT_KEEP_TOOL_USES = 3;
const EXPECTED_TAGS = `'${CLEAR_TOOL_USES}', '${CLEAR_THINKING}', '${COMPACT}'`;

/** `undefined` when the request has no `context_management`; throws the API's 400 otherwise. */
export function parseContextManagement(body: Rec, betaHeader: string | undefined): ContextManagement | undefined {
  const value = body.context_management;
  if (value === undefined || value === null) return undefined;
  const betas = (betaHeader ?? '').split(',').map((beta) => beta.trim());
  // Outside the beta the field is not part of the request schema, and unknown fields are refused.
  if (!betas.includes(CONTEXT_MANAGEMENT_BETA)) throw invalidRequest('context_management: Extra inputs are not permitted');
  if (!isRecord(value)) throw invalidRequest('context_management: Input should be a valid dictionary');
  rejectExtra(value, ['edits'], 'context_management');
  const raw = value.edits ?? [];
  if (!Array.isArray(raw)) throw invalidRequest('context_management.edits: Input should be a valid list');
  const edits = raw.map((edit: unknown, i) => parseEdit(edit, `context_management.edits.${i}`));
  // The docs require thinking clearing to come first when it is combined with other edits; the
  // wording of this message is the emulator's own.
  if (edits.findIndex((edit) => edit.type === CLEAR_THINKING) > 0) {
    throw invalidRequest(`context_management.edits: ${CLEAR_THINKING} must be the first edit when edits are combined`);
  }
  return { edits };
}

function parseEdit(value: unknown, at: string): ContextEdit {
  if (!isRecord(value)) throw invalidRequest(`${at}: Input should be a valid dictionary`);
  const type = value.type;
  if (typeof type !== 'string') throw invalidRequest(`${at}: Unable to extract tag using discriminator 'type'`);
  switch (type) {
    case CLEAR_TOOL_USES:
      return parseClearToolUses(value, `${at}.${type}`);
    case CLEAR_THINKING:
      return parseClearThinking(value, `${at}.${type}`);
    case COMPACT:
      throw invalidRequest(`${at}.${type}: server-side compaction is not supported by the Anthropic emulator`);
    default:
      throw invalidRequest(`${at}: Input tag '${type}' found using 'type' does not match any of the expected tags: ${EXPECTED_TAGS}`);
  }
}

function parseClearToolUses(value: Rec, at: string): ClearToolUsesEdit {
  rejectExtra(value, ['type', 'trigger', 'keep', 'clear_at_least', 'exclude_tools', 'clear_tool_inputs'], at);
  const trigger = optional(value.trigger, (raw) => {
    const tagged = tagOf(raw, `${at}.trigger`, ['input_tokens', 'tool_uses']);
    return { type: tagged, value: countOf(raw, `${at}.trigger.${tagged}`, 1) };
  });
  const keep = optional(value.keep, (raw) => {
    literalType(raw, `${at}.keep`, 'tool_uses');
    return countOf(raw, `${at}.keep`, 0);
  });
  const clearAtLeast = optional(value.clear_at_least, (raw) => {
    literalType(raw, `${at}.clear_at_least`, 'input_tokens');
    return countOf(raw, `${at}.clear_at_least`, 0);
  });
  const excludeTools = optional(value.exclude_tools, (raw) => new Set(names(raw, `${at}.exclude_tools`)));
  const clearToolInputs = optional(value.clear_tool_inputs, (raw): boolean | ReadonlySet<string> => {
    if (typeof raw === 'boolean') return raw;
    if (Array.isArray(raw)) return new Set(names(raw, `${at}.clear_tool_inputs`));
    throw invalidRequest(`${at}.clear_tool_inputs: Input should be a valid boolean or a valid list`);
  });
  return {
    type: CLEAR_TOOL_USES,
    trigger: trigger ?? { type: 'input_tokens', value: DEFAULT_TRIGGER_TOKENS },
    keep: keep ?? DEFAULT_KEEP_TOOL_USES,
    clearAtLeast,
    excludeTools: excludeTools ?? new Set(),
    clearToolInputs: clearToolInputs ?? false,
  };
}

function parseClearThinking(value: Rec, at: string): ClearThinkingEdit {
  rejectExtra(value, ['type', 'keep'], at);
  const keep = optional(value.keep, (raw): number | 'all' => {
    if (raw === 'all') return 'all';
    const tagged = tagOf(raw, `${at}.keep`, ['thinking_turns', 'all']);
    if (tagged === 'all') {
      rejectExtra(raw as Rec, ['type'], `${at}.keep.all`);
      return 'all';
    }
    return countOf(raw, `${at}.keep.thinking_turns`, 1);
  });
  // Without `keep` the API's default depends on the model (the docs: all turns on the newest
  // models, the newest one on older ones); the emulator knows no models, and keeps the newest one.
  return { type: CLEAR_THINKING, keep: keep ?? 1 };
}

function optional<T>(value: unknown, parse: (value: unknown) => T): T | undefined {
  return value === undefined || value === null ? undefined : parse(value);
}

function rejectExtra(value: Rec, allowed: readonly string[], at: string): void {
  const extra = Object.keys(value).find((key) => !allowed.includes(key));
  if (extra !== undefined) throw invalidRequest(`${at}.${extra}: Extra inputs are not permitted`);
}

function tagOf<T extends string>(value: unknown, at: string, tags: readonly T[]): T {
  if (!isRecord(value)) throw invalidRequest(`${at}: Input should be a valid dictionary`);
  const tag = value.type;
  if (typeof tag !== 'string') throw invalidRequest(`${at}: Unable to extract tag using discriminator 'type'`);
  if (!(tags as readonly string[]).includes(tag)) {
    const expected = tags.map((t) => `'${t}'`).join(', ');
    throw invalidRequest(`${at}: Input tag '${tag}' found using 'type' does not match any of the expected tags: ${expected}`);
  }
  return tag as T;
}

function literalType(value: unknown, at: string, type: string): void {
  if (!isRecord(value)) throw invalidRequest(`${at}: Input should be a valid dictionary`);
  if (value.type !== type) throw invalidRequest(`${at}.type: Input should be '${type}'`);
}

/** The `value` of a `{ type, value }` object: a whole number of at least `min`. */
function countOf(value: unknown, at: string, min: number): number {
  const rec = value as Rec;
  rejectExtra(rec, ['type', 'value'], at);
  if (!('value' in rec)) throw invalidRequest(`${at}.value: Field required`);
  const count = rec.value;
  if (typeof count !== 'number' || !Number.isInteger(count)) throw invalidRequest(`${at}.value: Input should be a valid integer`);
  if (count < min) throw invalidRequest(`${at}.value: Input should be greater than or equal to ${min}`);
  return count;
}

function names(value: unknown, at: string): string[] {
  if (!Array.isArray(value)) throw invalidRequest(`${at}: Input should be a valid list`);
  return value.map((name: unknown, i) => {
    if (typeof name !== 'string') throw invalidRequest(`${at}.${i}: Input should be a valid string`);
    return name;
  });
}
