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
