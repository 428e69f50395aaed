/**
 * Shapes shared by the emulator's modules: what a test scripts (turns), what the emulator
 * received (requests) and the subset of the Messages API request it understands.
 */

export type StopReason = 'end_turn' | 'max_tokens' | 'stop_sequence' | 'tool_use' | 'pause_turn' | 'refusal';

/** The `error.type` values the real API uses. */
export type ApiErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'billing_error'
  | 'permission_error'
  | 'not_found_error'
  | 'request_too_large'
  | 'rate_limit_error'
  | 'timeout_error'
  | 'api_error'
  | 'overloaded_error';

export type ReplyBlock =
  | { readonly type: 'text'; readonly text: string }
  /** Without a signature the emulator signs the block itself, and later checks it comes back unchanged. */
  | { readonly type: 'thinking'; readonly thinking: string; readonly signature?: string }
  | { readonly type: 'redacted_thinking'; readonly data: string }
  | { readonly type: 'tool_use'; readonly name: string; readonly input: unknown; readonly id?: string }
  /**
   * A tool the API runs itself (web search, say): the input streams like a tool_use's, but the
   * reply does not stop for it. The id is required so a result block can refer to it; the API's
   * ids look like `srvtoolu_01…`.
   */
  | { readonly type: 'server_tool_use'; readonly id: string; readonly name: ServerToolName; readonly input: unknown }
  /** Arrives whole in `content_block_start`, with no deltas, as the API sends it. */
  | { readonly type: 'web_search_tool_result'; readonly tool_use_id: string; readonly content: WebSearchToolResultContent };

/** The server tools the Messages API names in `server_tool_use` blocks. */
export type ServerToolName =
  | 'web_search'
  | 'web_fetch'
  | 'code_execution'
  | 'bash_code_execution'
  | 'text_editor_code_execution'
  | 'tool_search_tool_regex'
  | 'tool_search_tool_bm25';

export interface WebSearchResult {
  readonly type: 'web_search_result';
  readonly url: string;
  readonly title: string;
  readonly encrypted_content: string;
  /** Sent as `null` when absent, as the API does. */
  readonly page_age?: string | null;
}

export type WebSearchToolResultErrorCode =
  | 'invalid_tool_input'
  | 'unavailable'
  | 'max_uses_exceeded'
  | 'too_many_requests'
  | 'query_too_long'
  | 'request_too_large';

export interface WebSearchToolResultError {
  readonly type: 'web_search_tool_result_error';
  readonly error_code: WebSearchToolResultErrorCode;
}

/** The results, or an error object when the search failed (and was not billed). */
export type WebSearchToolResultContent = readonly WebSearchResult[] | WebSearchToolResultError;

/**
 * Cuts a reply short once `afterTokens` output tokens were sent (or before `message_delta` when
 * the reply is shorter). On a non-streaming request the same fault happens before any response.
 */
export type Interruption =
  /** HTTP 200, then `event: error` (non-streaming: the HTTP status of `errorType`). */
  | {
      readonly kind: 'error_event';
      readonly afterTokens: number;
      readonly errorType?: ApiErrorType;
      readonly message?: string;
    }
  /** The socket is destroyed. */
  | { readonly kind: 'drop'; readonly afterTokens: number }
  /** Nothing more is sent (pings neither) until the client aborts or the emulator closes. */
  | { readonly kind: 'stall'; readonly afterTokens: number };

/** The policy categories of @anthropic-ai/sdk's RefusalStopDetails; `null`: no named category. */
export type RefusalCategory = 'cyber' | 'bio' | 'frontier_llm' | 'reasoning_extraction' | 'general_harms' | null;

/** As @anthropic-ai/sdk's RefusalStopDetails, without the `type` the emulator adds. */
export interface RefusalDetails {
  readonly category: RefusalCategory;
  /** Not guaranteed stable by the API; `null` when it has none for the category. */
  readonly explanation: string | null;
}

export interface ReplyTurn {
  readonly blocks: readonly ReplyBlock[];
  /** Default: `tool_use` when a tool_use block was sent, else `end_turn`. */
  readonly stopReason?: StopReason;
  /**
   * Sent as `stop_details: {type: 'refusal', …}` when the reply stops with `refusal` (set here
   * without a stopReason, it implies one); every other reply reports `stop_details: null`.
   */
  readonly refusal?: RefusalDetails;
  /** Pacing of output tokens; `undefined` or `Infinity` sends as fast as possible. */
  readonly tokensPerSecond?: number;
  /** Model named in the response; default: the request's `model`. */
  readonly model?: string;
  readonly interrupt?: Interruption;
}

export interface HttpErrorTurn {
  readonly httpError: {
    readonly status: number;
    readonly type: ApiErrorType;
    readonly message?: string;
    /** Sent as `retry-after` (seconds). */
    readonly retryAfterSeconds?: number;
    /** Sent as `retry-after-ms`, which the SDK prefers over `retry-after`. */
    readonly retryAfterMs?: number;
    readonly headers?: Readonly<Record<string, string>>;
  };
}

export type Turn = ReplyTurn | HttpErrorTurn;

/** A content block as sent by a client: only `type` is known for sure. */
export interface WireBlock {
  readonly type: string;
  readonly [key: string]: unknown;
}

export interface WireMessage {
  readonly role: 'user' | 'assistant' | 'system';
  readonly content: string | readonly WireBlock[];
}

export interface WireTool {
  readonly name: string;
  /** Absent or `custom` for client tools; server tools carry a dated type. */
  readonly type?: string;
  readonly description?: string;
  readonly input_schema?: unknown;
  readonly [key: string]: unknown;
}

/** A validated `POST /v1/messages` body; fields the emulator ignores are kept as sent. */
export interface MessagesRequest {
  readonly model: string;
  readonly max_tokens: number;
  readonly messages: readonly WireMessage[];
  readonly system?: string | readonly WireBlock[];
  readonly tools?: readonly WireTool[];
  readonly tool_choice?: { readonly type: string; readonly name?: string };
  readonly stream?: boolean;
  readonly stop_sequences?: readonly string[];
  readonly thinking?: { readonly type: string; readonly budget_tokens?: number };
  readonly output_config?: unknown;
  readonly [key: string]: unknown;
}

export interface RecordedRequest {
  readonly method: string;
  /** Without the query string. */
  readonly path: string;
  /** Lower-case names; `x-api-key` and `authorization` values replaced by `[redacted]`. */
  readonly headers: Readonly<Record<string, string>>;
  /** The parsed JSON body; `undefined` when absent or not JSON. */
  readonly body: unknown;
  readonly rawBody: string;
  /** The `request-id` the emulator answered with. */
  readonly requestId: string;
}

export type Responder = (request: MessagesRequest, recorded: RecordedRequest) => Turn | Promise<Turn>;
