import type { AppliedEdit } from './context-editing.ts';
import type { CacheUsage } from './prompt-cache.ts';
import type { RefusalDetails, ServerToolName, StopReason, WebSearchToolResultContent, WebSearchToolResultError } from './types.ts';

/** The shapes of what the API sends back (a Message, its blocks and usage), and their builders. */

export type ResponseBlock =
  | { readonly type: 'text'; readonly text: string }
  | { readonly type: 'thinking'; readonly thinking: string; readonly signature: string }
  | { readonly type: 'redacted_thinking'; readonly data: string }
  | { readonly type: 'tool_use'; readonly id: string; readonly name: string; readonly input: unknown }
  | { readonly type: 'server_tool_use'; readonly id: string; readonly name: ServerToolName; readonly input: unknown }
  | {
      readonly type: 'web_search_tool_result';
      readonly tool_use_id: string;
      readonly content: readonly ResponseWebSearchResult[] | WebSearchToolResultError;
    };

/** A search result as the API sends it: `page_age` is always there, `null` when unknown. */
export interface ResponseWebSearchResult {
  readonly type: 'web_search_result';
  readonly url: string;
  readonly title: string;
  readonly encrypted_content: string;
  readonly page_age: string | null;
}

export interface ResponseMessage {
  readonly id: string;
  readonly type: 'message';
  readonly role: 'assistant';
  readonly model: string;
  readonly content: readonly ResponseBlock[];
  readonly stop_reason: StopReason;
  readonly stop_sequence: string | null;
  readonly stop_details: StopDetails | null;
  readonly usage: MessageUsage;
  readonly context_management?: { readonly applied_edits: readonly AppliedEdit[] };
}

export interface StopDetails extends RefusalDetails {
  readonly type: 'refusal';
}

export interface Usage {
  readonly input_tokens: number;
  readonly cache_creation_input_tokens: number;
  readonly cache_read_input_tokens: number;
  readonly output_tokens: number;
  /** Only when the reply used a server tool, as the API reports it. */
  readonly server_tool_use?: ServerToolUsage;
}

export interface ServerToolUsage {
  readonly web_search_requests: number;
  readonly web_fetch_requests: number;
}

/** A Message's usage carries a few more fields than the running totals in `message_delta`. */
export interface MessageUsage extends Usage {
  readonly cache_creation: { readonly ephemeral_5m_input_tokens: number; readonly ephemeral_1h_input_tokens: number };
  readonly service_tier: 'standard';
}

export const usage = (cache: CacheUsage, outputTokens: number, serverTools?: ServerToolUsage): Usage => ({
  input_tokens: cache.input_tokens,
  cache_creation_input_tokens: cache.cache_creation_input_tokens,
  cache_read_input_tokens: cache.cache_read_input_tokens,
  output_tokens: outputTokens,
  ...(serverTools ? { server_tool_use: serverTools } : {}),
});

export const messageUsage = (cache: CacheUsage, outputTokens: number, serverTools?: ServerToolUsage): MessageUsage => ({
  ...usage(cache, outputTokens, serverTools),
  cache_creation: { ...cache.cache_creation },
  service_tier: 'standard',
});

export function responseSearchContent(
  content: WebSearchToolResultContent,
): readonly ResponseWebSearchResult[] | WebSearchToolResultError {
  if (!isResultList(content)) return { type: content.type, error_code: content.error_code };
  return content.map((result) => ({
    type: result.type,
    url: result.url,
    title: result.title,
    encrypted_content: result.encrypted_content,
    page_age: result.page_age ?? null,
  }));
}

// Array.isArray does not narrow a readonly array out of a union.
function isResultList(content: WebSearchToolResultContent): content is Extract<WebSearchToolResultContent, readonly unknown[]> {
  return Array.isArray(content);
}
