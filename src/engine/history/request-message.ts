// The intermediate shape the history builder works on: one entry of the request's `messages`, a role and its API blocks.
// Narrower than the SDK's ContentBlockParam so every step can switch exhaustively on `type`.

import type {
  RedactedThinkingBlockParam,
  TextBlockParam,
  ThinkingBlockParam,
  ToolResultBlockParam,
  ToolUseBlockParam,
} from '@anthropic-ai/sdk/resources/messages';

export type HistoryBlock =
  | TextBlockParam
  | ThinkingBlockParam
  | RedactedThinkingBlockParam
  | ToolUseBlockParam
  | ToolResultBlockParam;

export type RequestRole = 'user' | 'assistant';

export interface RequestMessage {
  role: RequestRole;
  content: HistoryBlock[];
}

/**
 * The API rejects text blocks that are empty or only whitespace ("text content blocks must
 * contain non-whitespace text"), so "empty" means blank everywhere in this module.
 */
export function isBlank(text: string): boolean {
  return text.trim().length === 0;
}
