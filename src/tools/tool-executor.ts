import type { Tool } from '@anthropic-ai/sdk/resources/messages';
import { InputValidatorFactory, type InputValidator } from './input-validator.ts';
import { mapConcurrent } from './map-concurrent.ts';
import { raceAbort } from './race-abort.ts';
import type { InProcessTool, ToolCall, ToolContext, ToolOutcome } from './types.ts';

const TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/;
const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_MAX_CONCURRENCY = 4;

export interface ToolExecutorOptions {
  defaultTimeoutMs?: number;
  maxConcurrency?: number;
}

interface RegisteredTool {
  tool: InProcessTool;
  /** A private copy, so a caller mutating a tool's schema cannot split what the model sees from what is validated. */
  schema: Record<string, unknown>;
  validate: InputValidator;
  timeoutMs: number;
}

/** Runs in-process tools for the model; every failure becomes an outcome the model can act on. */
export class ToolExecutor {
  readonly #tools = new Map<string, RegisteredTool>();
  readonly #maxConcurrency: number;

  constructor(tools: readonly InProcessTool[], options: ToolExecutorOptions = {}) {
    const defaultTimeoutMs = options.defaultTimeoutMs ?? DEFAULT_TIMEOUT_MS;
    requirePositiveInteger('defaultTimeoutMs', defaultTimeoutMs);
    this.#maxConcurrency = options.maxConcurrency ?? DEFAULT_MAX_CONCURRENCY;
    requirePositiveInteger('maxConcurrency', this.#maxConcurrency);

    const validators = new InputValidatorFactory();
    for (const tool of tools) {
      if (!TOOL_NAME.test(tool.name)) {
        throw new Error(`Tool name ${JSON.stringify(tool.name)} must match ${TOOL_NAME.source}`);
      }
      if (this.#tools.has(tool.name)) throw new Error(`Tool "${tool.name}" is registered twice`);
      if (tool.inputSchema['type'] !== 'object') {
        throw new Error(`Tool "${tool.name}": inputSchema must have type "object"`);
      }
      const timeoutMs = tool.timeoutMs ?? defaultTimeoutMs;
      requirePositiveInteger(`Tool "${tool.name}" timeoutMs`, timeoutMs);
      const schema = structuredClone(tool.inputSchema);
      let validate: InputValidator;
      try {
        validate = validators.compile(schema);
      } catch (error) {
        throw new Error(`Tool "${tool.name}": invalid inputSchema: ${errorMessage(error)}`, { cause: error });
      }
      this.#tools.set(tool.name, { tool, schema, validate, timeoutMs });
    }
  }

  has(name: string): boolean {
    return this.#tools.has(name);
  }

  names(): string[] {
    return [...this.#tools.keys()];
  }

  /** Anthropic tool definitions ({ name, description, input_schema }) for these names, in the given order; unknown names throw. */
  definitions(names: readonly string[]): Tool[] {
    return names.map((name) => {
      const entry = this.#tools.get(name);
      if (!entry) throw new Error(`Unknown tool "${name}"`);
      return {
        name,
        description: entry.tool.description,
        input_schema: { ...structuredClone(entry.schema), type: 'object' },
      };
    });
  }

  /** Never throws: unknown tool, invalid input, a thrown error, a timeout, or an abort each become an error outcome. */
  async execute(call: ToolCall, context: ToolContext): Promise<ToolOutcome> {
    const started = performance.now();
    const finish = (content: string, isError: boolean): ToolOutcome => ({
      content,
      isError,
      durationMs: Math.round(performance.now() - started),
    });

    const entry = this.#tools.get(call.name);
    if (!entry) {
      return finish(`Unknown tool "${call.name}": no tool with that name is available. Use one of the tools you were given.`, true);
    }
    if (context.signal.aborted) return finish(cancelledMessage(call.name), true);

    const verdict = entry.validate(call.input);
    if (!verdict.ok) {
      return finish(
        `Invalid input for tool "${call.name}": ${verdict.problems.join('; ')}. Correct the input to match the tool's input schema and call it again.`,
        true,
      );
    }

    const timeout = AbortSignal.timeout(entry.timeoutMs);
    const signal = AbortSignal.any([context.signal, timeout]);
    try {
      // Starting inside a promise chain turns a synchronous throw into a rejection.
      const work = Promise.resolve().then(() =>
        entry.tool.execute(call.input, { signal, conversationId: context.conversationId }),
      );
      const content: unknown = await raceAbort(work, signal);
      if (typeof content !== 'string') {
        return finish(`Tool "${call.name}" failed: it returned ${typeof content} instead of text.`, true);
      }
      return finish(content, false);
    } catch (error) {
      // Judge by the signals rather than the error: a tool that honours its signal rejects
      // with its own AbortError, which must read the same as one we cut off.
      if (context.signal.aborted) return finish(cancelledMessage(call.name), true);
      if (timeout.aborted) {
        return finish(
          `Tool "${call.name}" timed out after ${entry.timeoutMs} ms and was stopped. Try a smaller request, or continue without this result.`,
          true,
        );
      }
      return finish(`Tool "${call.name}" failed: ${asSentence(errorMessage(error))}`, true);
    }
  }

  /** Runs several calls concurrently (at most maxConcurrency at once) and returns outcomes in the order of `calls`. */
  executeAll(calls: readonly ToolCall[], context: ToolContext): Promise<ToolOutcome[]> {
    return mapConcurrent(calls, this.#maxConcurrency, (call) => this.execute(call, context));
  }
}

function cancelledMessage(name: string): string {
  return `Tool "${name}" was cancelled before it finished; no result is available.`;
}

function errorMessage(error: unknown): string {
  if (error instanceof Error && error.message !== '') return error.message;
  const text = String(error);
  return text === '' || text === '[object Object]' ? 'an unknown error occurred' : text;
}

function asSentence(text: string): string {
  return /[.!?]$/.test(text) ? text : `${text}.`;
}

function requirePositiveInteger(what: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new Error(`${what} must be a positive integer, got ${value}`);
  }
}
