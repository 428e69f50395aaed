// The intermediate shape the history builder works on: a role and the API blocks of one turn.
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

export type TurnRole = 'user' | 'assistant';

export interface Turn {
  role: TurnRole;
  content: HistoryBlock[];
}

/**
 * The API rejects text blocks that are empty or only whitespace ("text content blocks must
 * contain non-whitespace text"), so "empty" means blank everywhere in this module.
 */
export function isBlank(text: string): boolean {
  return text.trim().length === 0;
}
