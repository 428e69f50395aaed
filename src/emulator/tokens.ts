import type { MessagesRequest, WireBlock } from './types.ts';

const WORD = /\s*\S+|\s+/g;
const MAX_WHOLE_WORD = 6;
const PIECE = 4;

/**
 * Splits text into output "tokens": a word with its leading whitespace, long words in pieces of
 * four characters. Concatenating the pieces gives back the text exactly; surrogate pairs are never split.
 */
export function splitIntoTokens(text: string): string[] {
  const tokens: string[] = [];
  for (const match of text.matchAll(WORD)) {
    const word = match[0];
    const chars = Array.from(word);
    if (chars.length <= MAX_WHOLE_WORD) {
      tokens.push(word);
      continue;
    }
    for (let i = 0; i < chars.length; i += PIECE) tokens.push(chars.slice(i, i + PIECE).join(''));
  }
  return tokens;
}

/** Images and documents cost far more than their base64 length suggests is "text": a flat figure. */
const MEDIA_CHARS = 6_000;

/** The characters one block counts for; the request's estimate is the sum over its blocks, divided by 4. */
export function blockChars(block: WireBlock): number {
  switch (block.type) {
    case 'text':
      return typeof block.text === 'string' ? block.text.length : 0;
    case 'thinking':
      return typeof block.thinking === 'string' ? block.thinking.length : 0;
    case 'redacted_thinking':
      return typeof block.data === 'string' ? block.data.length : 0;
    case 'tool_use':
    case 'server_tool_use':
      return (typeof block.name === 'string' ? block.name.length : 0) + JSON.stringify(block.input ?? {}).length;
    case 'tool_result':
      return contentChars(block.content);
    case 'image':
    case 'document':
      return MEDIA_CHARS;
    default:
      return JSON.stringify(block).length;
  }
}

function contentChars(content: unknown): number {
  if (typeof content === 'string') return content.length;
  if (!Array.isArray(content)) return 0;
  let chars = 0;
  for (const block of content as unknown[]) {
    if (typeof block === 'object' && block !== null && typeof (block as { type?: unknown }).type === 'string') {
      chars += blockChars(block as WireBlock);
    }
  }
  return chars;
}

/** An approximation (characters / 4 over system, messages and tools); the same figure feeds usage and count_tokens. */
export function estimateInputTokens(request: Pick<MessagesRequest, 'system' | 'messages' | 'tools'>): number {
  let chars = contentChars(request.system);
  for (const message of request.messages) chars += contentChars(message.content);
  for (const tool of request.tools ?? []) chars += JSON.stringify(tool).length;
  return Math.max(1, Math.ceil(chars / 4));
}
