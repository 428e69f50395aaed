// The Messages API's rules on the `messages` array, checked one by one so that a violation is
// reported with its position instead of as a 400 from the API mid-prompt.

import type { ContentBlockParam, MessageParam } from '@anthropic-ai/sdk/resources/messages';
import { isBlank } from './request-message.ts';

function blocksOf(message: MessageParam): ContentBlockParam[] {
  return typeof message.content === 'string' ? [{ type: 'text', text: message.content }] : message.content;
}

function toolUseIds(blocks: readonly ContentBlockParam[]): string[] {
  return blocks.flatMap((b) => (b.type === 'tool_use' ? [b.id] : []));
}

function checkBlock(block: ContentBlockParam, role: string, at: string): string[] {
  switch (block.type) {
    case 'text':
      return isBlank(block.text) ? [`${at}: text block is empty or blank`] : [];
    case 'thinking':
      if (role !== 'assistant') return [`${at}: thinking block outside an assistant turn`];
      return block.signature.length === 0 ? [`${at}: thinking block has no signature`] : [];
    case 'redacted_thinking':
      if (role !== 'assistant') return [`${at}: redacted_thinking block outside an assistant turn`];
      return block.data.length === 0 ? [`${at}: redacted_thinking block has no data`] : [];
    case 'tool_use':
      return role === 'assistant' ? [] : [`${at}: tool_use block outside an assistant turn`];
    case 'tool_result': {
      if (role !== 'user') return [`${at}: tool_result block outside a user turn`];
      const { content } = block;
      if (content === undefined) return [];
      if (typeof content === 'string') return isBlank(content) ? [`${at}: tool_result content is blank`] : [];
      if (content.length === 0) return [`${at}: tool_result content is an empty list`];
      return content.flatMap((inner, k) =>
        inner.type === 'text' && isBlank(inner.text) ? [`${at}.content[${k}]: text block is empty or blank`] : [],
      );
    }
    default:
      return [];
  }
}

function checkShape(messages: readonly MessageParam[], options: { continuing?: boolean }): string[] {
  const problems: string[] = [];
  if (messages.length === 0) return ['messages: must not be empty'];
  messages.forEach((message, i) => {
    const at = `messages[${i}]`;
    if (message.role !== 'user' && message.role !== 'assistant') {
      problems.push(`${at}: role must be user or assistant, not ${message.role}`);
    }
    if (i === 0 && message.role !== 'user') problems.push(`${at}: the first turn must be a user turn`);
    if (i > 0 && messages[i - 1]?.role === message.role) {
      problems.push(`${at}: follows another ${message.role} turn; roles must alternate`);
    }
    const blocks = blocksOf(message);
    if (blocks.length === 0) problems.push(`${at}: content is empty`);
    blocks.forEach((block, j) => problems.push(...checkBlock(block, message.role, `${at}.content[${j}]`)));
  });
  if (messages.at(-1)?.role !== 'user' && !options.continuing) {
    problems.push('messages: the last turn must be a user turn (a trailing assistant turn is a prefill)');
  }
  return problems;
}

function checkToolPairing(messages: readonly MessageParam[]): string[] {
  const problems: string[] = [];
  const seenToolUses = new Set<string>();
  messages.forEach((message, i) => {
    const at = `messages[${i}]`;
    const blocks = blocksOf(message);

    if (message.role === 'assistant') {
      const uses = toolUseIds(blocks);
      for (const id of uses) {
        if (seenToolUses.has(id)) problems.push(`${at}: tool_use id ${id} is used more than once`);
        seenToolUses.add(id);
      }
      if (uses.length === 0) return;
      const next = messages[i + 1];
      const leading: string[] = [];
      if (next !== undefined && next.role === 'user') {
        for (const block of blocksOf(next)) {
          if (block.type !== 'tool_result') break;
          leading.push(block.tool_use_id);
        }
      }
      const missing = uses.filter((id) => !leading.includes(id));
      if (missing.length > 0) {
        problems.push(`${at}: tool_use ${missing.join(', ')} not answered by a tool_result at the start of the next user turn`);
      }
      return;
    }

    if (message.role !== 'user') return;
    const previous = messages[i - 1];
    const answerable = previous !== undefined && previous.role === 'assistant' ? toolUseIds(blocksOf(previous)) : [];
    const answered = new Set<string>();
    let otherSeen = false;
    blocks.forEach((block, j) => {
      if (block.type !== 'tool_result') {
        otherSeen = true;
        return;
      }
      const where = `${at}.content[${j}]`;
      if (otherSeen) problems.push(`${where}: tool_result after other content; tool results must come first`);
      if (!answerable.includes(block.tool_use_id)) {
        problems.push(`${where}: tool_result ${block.tool_use_id} answers no tool_use of the preceding assistant turn`);
      }
      if (answered.has(block.tool_use_id)) problems.push(`${where}: second tool_result for ${block.tool_use_id}`);
      answered.add(block.tool_use_id);
    });
  });
  return problems;
}

export function validateMessages(messages: readonly MessageParam[], options: { continuing?: boolean } = {}): string[] {
  return [...checkShape(messages, options), ...checkToolPairing(messages)];
}
