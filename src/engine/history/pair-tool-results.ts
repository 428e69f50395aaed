// Turns → a conversation the API accepts: starts with a user turn, roles alternate, no empty
// turn, every tool_use answered at the start of the very next user turn, no orphan results,
// ends with a user turn.

import type { ToolResultBlockParam, ToolUseBlockParam } from '@anthropic-ai/sdk/resources/messages';
import { missingToolResult } from './to-request-messages.ts';
import type { HistoryBlock, RequestMessage } from './request-message.ts';

/** Concatenates consecutive same-role turns and drops empty ones. */
export function mergeRequestMessages(turns: readonly RequestMessage[]): RequestMessage[] {
  const merged: RequestMessage[] = [];
  for (const turn of turns) {
    if (turn.content.length === 0) continue;
    const last = merged.at(-1);
    if (last !== undefined && last.role === turn.role) last.content.push(...turn.content);
    else merged.push({ role: turn.role, content: [...turn.content] });
  }
  return merged;
}

function isToolUse(block: HistoryBlock): block is ToolUseBlockParam {
  return block.type === 'tool_use';
}

function isToolResult(block: HistoryBlock): block is ToolResultBlockParam {
  return block.type === 'tool_result';
}

/**
 * One forward pass. Input should be merged (see mergeRequestMessages) so that all results stored for a
 * tool round sit in the user turn right after it.
 *
 * - A leading assistant turn is dropped: a request starts with a user turn.
 * - The user turn after an assistant turn with tool_use blocks is rebuilt as: one result per
 *   tool_use, in tool_use order (the first stored result for that id, else a synthesized error
 *   result), then the turn's other blocks. Results for any other id are dropped.
 * - A user turn after anything else loses all its tool_result blocks.
 * - Tool uses left without a following user turn get a user turn of synthesized error results.
 * - A trailing assistant turn (necessarily without tool_use) is dropped: it would be a prefill,
 *   which current models reject, and it is at most a partial answer the model writes again.
 *   Except when `continuing` a reply the API paused (pause_turn): the API wants it back as it was.
 */
export function pairToolResults(turns: readonly RequestMessage[], options: { continuing?: boolean } = {}): RequestMessage[] {
  const out: RequestMessage[] = [];
  let pending: ToolUseBlockParam[] = [];

  for (const turn of turns) {
    const last = out.at(-1);
    if (turn.role === 'assistant') {
      if (last === undefined) continue;
      // last is an assistant turn only when the user turn between them vanished, which happens
      // only when that user turn owed no results, so `pending` is empty and merging is safe.
      if (last.role === 'assistant') last.content.push(...turn.content);
      else out.push({ role: 'assistant', content: [...turn.content] });
      pending = turn.content.filter(isToolUse);
      continue;
    }

    const results = turn.content.filter(isToolResult);
    const others = turn.content.filter((b) => !isToolResult(b));
    const paired = pending.map((use) => results.find((r) => r.tool_use_id === use.id) ?? missingToolResult(use.id));
    pending = [];
    const content = [...paired, ...others];
    if (content.length === 0) continue;
    if (last !== undefined && last.role === 'user') last.content.push(...content);
    else out.push({ role: 'user', content });
  }

  if (pending.length > 0) out.push({ role: 'user', content: pending.map((use) => missingToolResult(use.id)) });
  if (out.at(-1)?.role === 'assistant' && !options.continuing) out.pop();
  return out;
}
