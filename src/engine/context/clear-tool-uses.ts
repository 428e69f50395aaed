// Clearing old tool calls from what the model is sent, as the API's context editing does
// (clear_tool_uses): the input of a call and its result are replaced, the pair stays, so the
// model still sees that the call happened. Only the request changes; stored blocks do not.
import type { MessageParam } from '@anthropic-ai/sdk/resources/messages';

/** What a cleared tool result says instead of its content. */
export const CLEARED_TOOL_RESULT = '[This tool result was cleared to save context.]';

/**
 * Calls are cleared in steps of this many, so that the cleared part changes every few calls,
 * not every call: each change of it is a prompt-cache miss from there on.
 */
export const CLEAR_STEP = 5;

export interface ClearedHistory {
  messages: MessageParam[];
  /** Tool calls whose input and result were replaced. */
  clearedToolUses: number;
}

/** Clears every tool call but the newest `keep` (rounded to CLEAR_STEP, all when fewer). */
export function clearOldToolUses(messages: readonly MessageParam[], keep: number): ClearedHistory {
  const ids: string[] = [];
  for (const message of messages) {
    if (message.role !== 'assistant' || typeof message.content === 'string') continue;
    for (const block of message.content) if (block.type === 'tool_use') ids.push(block.id);
  }
  const excess = ids.length - keep;
  if (excess <= 0) return { messages: [...messages], clearedToolUses: 0 };
  const count = excess >= CLEAR_STEP ? excess - (excess % CLEAR_STEP) : excess;
  const cleared = new Set(ids.slice(0, count));
  const out = messages.map((message): MessageParam => {
    if (typeof message.content === 'string' || message.role === 'system') return message;
    return {
      role: message.role,
      content: message.content.map((block) => {
        if (block.type === 'tool_use' && cleared.has(block.id)) return { ...block, input: {} };
        if (block.type === 'tool_result' && cleared.has(block.tool_use_id)) return { ...block, content: CLEARED_TOOL_RESULT };
        return block;
      }),
    };
  });
  return { messages: out, clearedToolUses: cleared.size };
}
