import { invalidRequest } from './errors.ts';

/** The context window of the current Claude models without the 1M-token beta. */
export const DEFAULT_CONTEXT_TOKENS = 200_000;

/**
 * Refuses a Messages request that cannot fit the context window, as the API does: first the input
 * alone, then the input plus the room `max_tokens` asks for. Both limits are strict (a prompt of
 * exactly the window fits). `inputTokens` is the emulator's own estimate, after context editing.
 *
 * The wording is the API's, as its 400 `invalid_request_error` bodies show in public reports:
 * `prompt is too long: 200082 tokens > 200000 maximum` (RipperTs/claude-code-relay#23,
 * boldsoftware/exe.dev#62) and `input length and \`max_tokens\` exceed context limit: 199759 + 8192
 * > 200000, decrease input length or \`max_tokens\` and try again` (continuedev/continue#6080,
 * continuedev/continue#8454, anthropics/claude-code#228). `count_tokens` applies neither check:
 * it counts prompts of any length.
 */
export function checkContextWindow(inputTokens: number, maxTokens: number, contextTokens: number): void {
  if (inputTokens > contextTokens) {
    throw invalidRequest(`prompt is too long: ${inputTokens} tokens > ${contextTokens} maximum`);
  }
  if (inputTokens + maxTokens > contextTokens) {
    throw invalidRequest(
      `input length and \`max_tokens\` exceed context limit: ${inputTokens} + ${maxTokens} > ${contextTokens}, ` +
        'decrease input length or `max_tokens` and try again',
    );
  }
}
