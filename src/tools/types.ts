export interface ToolContext {
  signal: AbortSignal;
  conversationId: string;
}

export interface ToolOutcome {
  content: string;
  isError: boolean;
  durationMs: number;
}

export interface InProcessTool {
  /** Matches [a-zA-Z0-9_-]{1,64}, the Anthropic tool name rule. */
  name: string;
  description: string;
  /** JSON Schema with type: 'object'; input is validated against it before execute is called. */
  inputSchema: Record<string, unknown>;
  /** Per-tool timeout; the executor's default otherwise. */
  timeoutMs?: number;
  /** Throw to report an error: the message reaches the model, so make it one it can act on. */
  execute(input: Record<string, unknown>, context: ToolContext): Promise<string>;
}

export interface ToolCall {
  id: string;
  name: string;
  input: Record<string, unknown>;
}

/** Where a tool runs, in the vocabulary of tool events: in this process, or on an MCP server. */
export type ToolKind = 'server' | 'mcp';

/** A tool a ToolSource lists now. The name is final: already namespaced and valid for the model. */
export interface SourceTool {
  name: string;
  description: string;
  /** JSON Schema with type: 'object'; the executor validates input against it before calling. */
  inputSchema: Record<string, unknown>;
  /** Per-tool timeout; the executor's default otherwise. */
  timeoutMs?: number;
}

export interface SourceCallContext extends ToolContext {
  /** The executor enforces it through `signal`; a source may pass it on to its transport. */
  timeoutMs: number;
}

export interface SourceCallResult {
  content: string;
  isError: boolean;
}

/**
 * Tools whose list changes while the service runs (an MCP server): listed, validated and
 * called through the ToolExecutor like in-process tools.
 */
export interface ToolSource {
  readonly kind: ToolKind;
  /** Grows whenever tools() may return a different list, so derived state can be cached. */
  readonly revision: number;
  tools(): readonly SourceTool[];
  /**
   * Why `name`, unlisted but in this source's namespace, cannot run now (its server is down),
   * worded for the model; null when the name is not this source's or it is simply unknown.
   */
  explainUnlisted(name: string): string | null;
  /** Calls a listed tool with validated input. May throw; the executor reports it. */
  call(name: string, input: Record<string, unknown>, context: SourceCallContext): Promise<SourceCallResult>;
  /** Releases connections and processes; safe to call more than once. */
  close(): Promise<void>;
}

/** What the tools layer logs through; the app's Logger fits. */
export interface ToolLogger {
  warn(message: string, fields?: Record<string, unknown>): void;
  info?(message: string, fields?: Record<string, unknown>): void;
  debug?(message: string, fields?: Record<string, unknown>): void;
}
