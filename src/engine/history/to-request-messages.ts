// Stored blocks → API blocks, and stored messages → role-tagged turns. Dropping what the API
// must never see happens here (blank text, thinking when it is off, unsigned thinking); the
// shape of the conversation (pairing, alternation) is repaired later in pair-tool-results.ts.

import type { BlockContent, MessageRecord } from '../../domain/records.ts';
import { isBlank, type HistoryBlock, type RequestMessage, type RequestRole } from './request-message.ts';

/** Shown to the model for a tool_use whose result was never stored. */
export const MISSING_TOOL_RESULT_TEXT =
  'This tool call was not completed: no result was recorded for it.';

/** Stands in for an empty tool output: the API rejects empty tool_result content in some cases. */
export const EMPTY_TOOL_RESULT_TEXT = '(no output)';

export interface BlockPolicy {
  thinking: boolean;
  /**
   * tool_use ids already emitted earlier in this request. Ids must be unique across a request,
   * so a repeated id (corrupt data) is dropped; its results then become orphans and are dropped
   * too, when the tool results are paired.
   */
  seenToolUseIds: Set<string>;
}

function toApiBlock(block: BlockContent, policy: BlockPolicy): HistoryBlock | null {
  switch (block.type) {
    case 'text':
      return isBlank(block.text) ? null : { type: 'text', text: block.text };
    case 'thinking':
      // Replayed field for field: the signature covers the thinking text, so any change (or a
      // missing signature, e.g. a dropped signature_delta) makes the API reject the request.
      if (!policy.thinking || block.signature.length === 0) return null;
      return { type: 'thinking', thinking: block.thinking, signature: block.signature };
    case 'redacted_thinking':
      if (!policy.thinking || block.data.length === 0) return null;
      return { type: 'redacted_thinking', data: block.data };
    case 'tool_use':
      if (policy.seenToolUseIds.has(block.id)) return null;
      policy.seenToolUseIds.add(block.id);
      // Cloned so a caller editing the request can never reach back into stored records.
      return { type: 'tool_use', id: block.id, name: block.name, input: structuredClone(block.input) };
    case 'tool_result':
      return toolResultBlock(block.toolUseId, isBlank(block.content) ? EMPTY_TOOL_RESULT_TEXT : block.content, block.isError);
  }
}

export function toolResultBlock(toolUseId: string, content: string, isError: boolean): HistoryBlock {
  return isError
    ? { type: 'tool_result', tool_use_id: toolUseId, content, is_error: true }
    : { type: 'tool_result', tool_use_id: toolUseId, content };
}

export function missingToolResult(toolUseId: string): HistoryBlock {
  return toolResultBlock(toolUseId, MISSING_TOOL_RESULT_TEXT, true);
}

/** A user message is the caller's text; any other block type in it is not caller content. */
export function userRequestMessage(message: MessageRecord): RequestMessage {
  const content: HistoryBlock[] = [];
  for (const block of message.blocks) {
    if (block.type === 'text' && !isBlank(block.text)) content.push({ type: 'text', text: block.text });
  }
  return { role: 'user', content };
}

/**
 * One assistant message holds a whole reply including its tool rounds. tool_result blocks go to
 * the user side of the conversation, everything else stays with the assistant, so the message
 * becomes alternating runs: assistant, user (results), assistant, ...
 */
export function assistantRequestMessages(message: MessageRecord, policy: BlockPolicy): RequestMessage[] {
  const turns: RequestMessage[] = [];
  for (const stored of message.blocks) {
    const block = toApiBlock(stored, policy);
    if (block === null) continue;
    const role: RequestRole = block.type === 'tool_result' ? 'user' : 'assistant';
    const last = turns.at(-1);
    if (last !== undefined && last.role === role) last.content.push(block);
    else turns.push({ role, content: [block] });
  }
  return turns;
}
