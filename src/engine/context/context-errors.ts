import { APIError } from '@anthropic-ai/sdk';

/** The history cannot be made to fit: even the newest user turn alone is too long. */
export class ContextTooLong extends Error {
  readonly tokens: number;
  readonly limit: number;
  constructor(tokens: number, limit: number) {
    super(`the request holds about ${tokens} tokens, at most ${limit} fit`);
    this.name = 'ContextTooLong';
    this.tokens = tokens;
    this.limit = limit;
  }
}

// The API's words for a request past the context window (HTTP 400, invalid_request_error):
// the prompt alone, or the prompt with max_tokens. The emulator answers the same (context-window.ts).
const PROMPT_TOO_LONG = /prompt is too long: (\d+) tokens > (\d+) maximum/;
const WITH_MAX_TOKENS = /input length and `max_tokens` exceed context limit: (\d+) \+ (\d+) > (\d+)/;

/**
 * The input tokens the API counted and the most it would take, when it refused a request as
 * too long for the window; else null.
 */
export function promptTooLong(error: unknown): { tokens: number; limit: number } | null {
  if (!(error instanceof APIError) || error.status !== 400) return null;
  const text = error.apiMessage ?? error.message;
  const alone = PROMPT_TOO_LONG.exec(text);
  if (alone) return { tokens: Number(alone[1]), limit: Number(alone[2]) };
  const withMax = WITH_MAX_TOKENS.exec(text);
  if (withMax) return { tokens: Number(withMax[1]), limit: Number(withMax[3]) - Number(withMax[2]) };
  return null;
}
