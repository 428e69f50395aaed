import { CLEAR_THINKING, CLEAR_TOOL_USES, type ClearThinkingEdit, type ClearToolUsesEdit, type ContextManagement } from './context-management.ts';
import { estimateInputTokens } from './tokens.ts';
import type { MessagesRequest, WireBlock, WireMessage } from './types.ts';

/**
 * Applies context edits to a request the way the API does before the model sees it: the client
 * keeps its full history, the emulator answers (and counts tokens for) the edited one. Pure.
 */

/** The entries of `context_management.applied_edits`, named as in @anthropic-ai/sdk's beta types. */
export type AppliedEdit =
  | { readonly type: typeof CLEAR_TOOL_USES; readonly cleared_tool_uses: number; readonly cleared_input_tokens: number }
  | { readonly type: typeof CLEAR_THINKING; readonly cleared_thinking_turns: number; readonly cleared_input_tokens: number };

/**
 * What a cleared tool result says instead. The docs only say the API puts "placeholder text" there
 * to let Claude know the result was removed, without giving the text: this one is the emulator's.
 */
export const CLEARED_TOOL_RESULT = '[Tool result cleared to save context]';

type Editable = Pick<MessagesRequest, 'system' | 'messages' | 'tools'>;

export interface EditedRequest<R extends Editable> {
  readonly request: R;
  /** Only edits that changed something, in the order they ran. */
  readonly appliedEdits: readonly AppliedEdit[];
  readonly originalInputTokens: number;
  readonly inputTokens: number;
}

export function applyContextEdits<R extends Editable>(request: R, management: ContextManagement): EditedRequest<R> {
  const originalInputTokens = estimateInputTokens(request);
  let current = request;
  let tokens = originalInputTokens;
  const appliedEdits: AppliedEdit[] = [];
  for (const edit of management.edits) {
    const outcome = edit.type === CLEAR_THINKING ? clearThinking(current.messages, edit) : clearToolUses(current, tokens, edit);
    if (outcome === undefined) continue;
    const next = { ...current, messages: outcome.messages };
    const nextTokens = estimateInputTokens(next);
    const cleared = tokens - nextTokens;
    if (edit.type === CLEAR_TOOL_USES) {
      // Not worth breaking the prompt cache for less than this: the docs say the edit is then not applied.
      if (edit.clearAtLeast !== undefined && cleared < edit.clearAtLeast) continue;
      appliedEdits.push({ type: CLEAR_TOOL_USES, cleared_tool_uses: outcome.cleared, cleared_input_tokens: cleared });
    } else {
      appliedEdits.push({ type: CLEAR_THINKING, cleared_thinking_turns: outcome.cleared, cleared_input_tokens: cleared });
    }
    current = next;
    tokens = nextTokens;
  }
  return { request: current, appliedEdits, originalInputTokens, inputTokens: tokens };
}

interface Outcome {
  readonly messages: readonly WireMessage[];
  /** Tool uses, or thinking turns, cleared. */
  readonly cleared: number;
}

const isThinking = (block: WireBlock): boolean => block.type === 'thinking' || block.type === 'redacted_thinking';

/** Each assistant message that holds thinking is a thinking turn; all but the newest `keep` lose it. */
function clearThinking(messages: readonly WireMessage[], edit: ClearThinkingEdit): Outcome | undefined {
  if (edit.keep === 'all') return undefined;
  const turns = messages.flatMap((message, i) =>
    message.role === 'assistant' && typeof message.content !== 'string' && message.content.some(isThinking) ? [i] : [],
  );
  const older = new Set(turns.slice(0, Math.max(0, turns.length - edit.keep)));
  if (older.size === 0) return undefined;
  const edited = messages.map((message, i) =>
    older.has(i) && typeof message.content !== 'string' ? { ...message, content: message.content.filter((b) => !isThinking(b)) } : message,
  );
  return { messages: edited, cleared: older.size };
}

interface ToolUse {
  readonly id: string;
  readonly name: string;
}

function clearToolUses(request: Editable, tokens: number, edit: ClearToolUsesEdit): Outcome | undefined {
  const uses: ToolUse[] = [];
  for (const message of request.messages) {
    if (message.role !== 'assistant' || typeof message.content === 'string') continue;
    for (const block of message.content) {
      if (block.type === 'tool_use' && typeof block.id === 'string' && typeof block.name === 'string') {
        uses.push({ id: block.id, name: block.name });
      }
    }
  }
  const triggered = edit.trigger.type === 'input_tokens' ? tokens > edit.trigger.value : uses.length > edit.trigger.value;
  if (!triggered) return undefined;
  // The newest `keep` uses stay whatever their tool; of the older ones, excluded tools stay too.
  const cleared = uses.slice(0, Math.max(0, uses.length - edit.keep)).filter((use) => !edit.excludeTools.has(use.name));
  if (cleared.length === 0) return undefined;
  const results = new Set(cleared.map((use) => use.id));
  const inputs = new Set(cleared.filter((use) => clearsInput(edit, use.name)).map((use) => use.id));
  const messages = request.messages.map((message) => {
    if (typeof message.content === 'string') return message;
    let changed = false;
    const content = message.content.map((block): WireBlock => {
      if (message.role === 'user' && block.type === 'tool_result' && results.has(String(block.tool_use_id))) {
        changed = true;
        return { ...block, content: CLEARED_TOOL_RESULT };
      }
      if (message.role === 'assistant' && block.type === 'tool_use' && inputs.has(String(block.id))) {
        changed = true;
        return { ...block, input: {} };
      }
      return block;
    });
    return changed ? { ...message, content } : message;
  });
  return { messages, cleared: cleared.length };
}

function clearsInput(edit: ClearToolUsesEdit, name: string): boolean {
  return typeof edit.clearToolInputs === 'boolean' ? edit.clearToolInputs : edit.clearToolInputs.has(name);
}
