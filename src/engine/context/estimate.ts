// How many input tokens a request holds, before the API says. Characters over four, the rule
// of thumb for English, over everything the request carries; then scaled by what the API
// counted for the last request of the same prompt (TokenCalibration), so that code or other
// languages, which take more tokens per character, are not underestimated twice.
import type { MessageCreateParamsBase } from '@anthropic-ai/sdk/resources/messages';

const CHARS_PER_TOKEN = 4;

/** Characters of what the API tokenizes: system, tools and messages, their JSON shape included. */
export function requestChars(request: Pick<MessageCreateParamsBase, 'system' | 'tools' | 'messages'>): number {
  const system = typeof request.system === 'string' ? request.system.length : JSON.stringify(request.system ?? []).length;
  return system + JSON.stringify(request.tools ?? []).length + JSON.stringify(request.messages).length;
}

/** What the API counted against what was estimated, per prompt attempt. */
export class TokenCalibration {
  /** API tokens per estimated token; starts at 1 (the estimate as it is). */
  #factor = 1;

  estimate(request: Pick<MessageCreateParamsBase, 'system' | 'tools' | 'messages'>): number {
    return Math.ceil((requestChars(request) / CHARS_PER_TOKEN) * this.#factor);
  }

  /**
   * The API counted `actualTokens` (input, cache reads and writes) for `request`. Bounded, so
   * that one odd count (a request mostly of images, say) cannot make every estimate absurd.
   */
  observe(request: Pick<MessageCreateParamsBase, 'system' | 'tools' | 'messages'>, actualTokens: number): void {
    const estimated = requestChars(request) / CHARS_PER_TOKEN;
    if (estimated <= 0 || actualTokens <= 0) return;
    this.#factor = Math.min(4, Math.max(0.25, actualTokens / estimated));
  }
}
