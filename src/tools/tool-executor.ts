import { isDeepStrictEqual } from 'node:util';
import type { Tool } from '@anthropic-ai/sdk/resources/messages';
import { InputValidatorFactory, type InputValidator } from './input-validator.ts';
import { mapConcurrent } from './map-concurrent.ts';
import { raceAbort } from './race-abort.ts';
import type {
  InProcessTool,
  SourceCallContext,
  ToolCall,
  ToolContext,
  ToolKind,
  ToolLogger,
  ToolOutcome,
  ToolSource,
} from './types.ts';

const TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/;
const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_MAX_CONCURRENCY = 4;

export interface ToolExecutorOptions {
  defaultTimeoutMs?: number;
  maxConcurrency?: number;
  /** Tools that come and go at run time (MCP servers), offered beside the in-process tools. */
  sources?: readonly ToolSource[];
  /** Told about source tools that cannot be offered (bad name, bad schema, a name taken). */
  logger?: ToolLogger;
}

interface RegisteredTool {
  name: string;
  description: string;
  kind: ToolKind;
  /** A private copy, so a caller mutating a tool's schema cannot split what the model sees from what is validated. */
  schema: Record<string, unknown>;
  validate: InputValidator;
  timeoutMs: number;
  run(input: Record<string, unknown>, context: SourceCallContext): Promise<{ content: unknown; isError: boolean }>;
}

interface SourceView {
  source: ToolSource;
  /** The source revision `tools` was built from; -1 before the first build. */
  revision: number;
  tools: Map<string, RegisteredTool>;
}

/**
 * Runs tools for the model: in-process tools, and tools listed by sources such as MCP servers.
 * Every failure becomes an outcome the model can act on.
 */
export class ToolExecutor {
  readonly #tools = new Map<string, RegisteredTool>();
  readonly #sources: SourceView[];
  readonly #defaultTimeoutMs: number;
  readonly #maxConcurrency: number;
  readonly #logger: ToolLogger | undefined;
  #closed: Promise<void> | null = null;

  constructor(tools: readonly InProcessTool[], options: ToolExecutorOptions = {}) {
    this.#defaultTimeoutMs = options.defaultTimeoutMs ?? DEFAULT_TIMEOUT_MS;
    requirePositiveInteger('defaultTimeoutMs', this.#defaultTimeoutMs);
    this.#maxConcurrency = options.maxConcurrency ?? DEFAULT_MAX_CONCURRENCY;
    requirePositiveInteger('maxConcurrency', this.#maxConcurrency);
    this.#logger = options.logger;

    const validators = new InputValidatorFactory();
    for (const tool of tools) {
      if (!TOOL_NAME.test(tool.name)) {
        throw new Error(`Tool name ${JSON.stringify(tool.name)} must match ${TOOL_NAME.source}`);
      }
      if (this.#tools.has(tool.name)) throw new Error(`Tool "${tool.name}" is registered twice`);
      if (tool.inputSchema['type'] !== 'object') {
        throw new Error(`Tool "${tool.name}": inputSchema must have type "object"`);
      }
      const timeoutMs = tool.timeoutMs ?? this.#defaultTimeoutMs;
      requirePositiveInteger(`Tool "${tool.name}" timeoutMs`, timeoutMs);
      const schema = structuredClone(tool.inputSchema);
      let validate: InputValidator;
      try {
        validate = validators.compile(schema);
      } catch (error) {
        throw new Error(`Tool "${tool.name}": invalid inputSchema: ${errorMessage(error)}`, { cause: error });
      }
      this.#tools.set(tool.name, {
        name: tool.name,
        description: tool.description,
        kind: 'server',
        schema,
        validate,
        timeoutMs,
        run: async (input, context) => ({
          content: await tool.execute(input, { signal: context.signal, conversationId: context.conversationId }),
          isError: false,
        }),
      });
    }
    this.#sources = (options.sources ?? []).map((source) => ({ source, revision: -1, tools: new Map() }));
  }

  /** True for in-process tools and for source tools listed now. */
  has(name: string): boolean {
    return this.#lookup(name) !== undefined;
  }

  /** In-process tools first, then each source's tools in the order they are listed. */
  names(): string[] {
    const names = new Set(this.#tools.keys());
    for (const view of this.#sources) for (const name of this.#current(view).keys()) names.add(name);
    return [...names];
  }

  /** 'server' for an in-process tool, the source's kind ('mcp') for a source tool, null when unknown. */
  kindOf(name: string): ToolKind | null {
    return this.#lookup(name)?.kind ?? null;
  }

  /**
   * has(name), or the name lies in the namespace of a source that cannot list its tools right
   * now (its server is down). Suits validating enabled_tools, so that a server being down when a
   * conversation is created does not make the conversation impossible.
   */
  mayOffer(name: string): boolean {
    return this.has(name) || this.#sources.some((view) => view.source.explainUnlisted(name) !== null);
  }

  /** Anthropic tool definitions ({ name, description, input_schema }) for these names, in the given order; unknown names throw. */
  definitions(names: readonly string[]): Tool[] {
    return names.map((name) => {
      const entry = this.#lookup(name);
      if (!entry) throw new Error(`Unknown tool "${name}"`);
      return {
        name,
        description: entry.description,
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

    const entry = this.#lookup(call.name);
    if (!entry) {
      for (const view of this.#sources) {
        const reason = view.source.explainUnlisted(call.name);
        if (reason !== null) return finish(reason, true);
      }
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
        entry.run(call.input, { signal, conversationId: context.conversationId, timeoutMs: entry.timeoutMs }),
      );
      const result = await raceAbort(work, signal);
      if (typeof result.content !== 'string') {
        return finish(`Tool "${call.name}" failed: it returned ${typeof result.content} instead of text.`, true);
      }
      return finish(result.content, result.isError);
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

  /** Closes every source (MCP connections and processes); later calls wait for the same close. */
  close(): Promise<void> {
    this.#closed ??= Promise.allSettled(this.#sources.map((view) => view.source.close())).then((results) => {
      for (const result of results) {
        if (result.status === 'rejected') this.#logger?.warn('a tool source failed to close', { error: result.reason });
      }
    });
    return this.#closed;
  }

  #lookup(name: string): RegisteredTool | undefined {
    const local = this.#tools.get(name);
    if (local) return local;
    for (const view of this.#sources) {
      const entry = this.#current(view).get(name);
      if (entry) return entry;
    }
    return undefined;
  }

  /** The source's tools, rebuilt (names checked, schemas compiled) only when its list changed. */
  #current(view: SourceView): Map<string, RegisteredTool> {
    const revision = view.source.revision;
    if (revision === view.revision) return view.tools;
    const previous = view.tools;
    const tools = new Map<string, RegisteredTool>();
    // A fresh Ajv per rebuild, as schemas from remote servers may reuse an $id across lists, which
    // one Ajv refuses; made only when a schema changed, as making one costs tens of milliseconds.
    let validators: InputValidatorFactory | undefined;
    for (const tool of view.source.tools()) {
      const problem = this.#nameProblem(tool.name, view, tools);
      if (problem !== null) {
        this.#skip(view, tool.name, problem);
        continue;
      }
      if (tool.inputSchema['type'] !== 'object') {
        this.#skip(view, tool.name, 'its inputSchema does not have type "object"');
        continue;
      }
      const timeoutMs = tool.timeoutMs ?? this.#defaultTimeoutMs;
      if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 1) {
        this.#skip(view, tool.name, `its timeoutMs ${timeoutMs} is not a positive integer`);
        continue;
      }
      const schema = structuredClone(tool.inputSchema);
      const unchanged = previous.get(tool.name);
      let validate: InputValidator;
      if (unchanged && isDeepStrictEqual(unchanged.schema, schema)) {
        validate = unchanged.validate;
      } else {
        try {
          validators ??= new InputValidatorFactory();
          validate = validators.compile(schema);
        } catch (error) {
          this.#skip(view, tool.name, `its inputSchema is invalid: ${errorMessage(error)}`);
          continue;
        }
      }
      const source = view.source;
      const name = tool.name;
      tools.set(name, {
        name,
        description: tool.description,
        kind: source.kind,
        schema,
        validate,
        timeoutMs,
        run: (input, context) => source.call(name, input, context),
      });
    }
    view.tools = tools;
    view.revision = revision;
    return tools;
  }

  #nameProblem(name: string, view: SourceView, sameSource: Map<string, RegisteredTool>): string | null {
    if (!TOOL_NAME.test(name)) return `its name does not match ${TOOL_NAME.source}`;
    if (this.#tools.has(name)) return 'an in-process tool has the same name';
    if (sameSource.has(name)) return 'the source lists that name twice';
    for (const other of this.#sources) {
      if (other !== view && other.tools.has(name)) return 'another source already offers that name';
    }
    return null;
  }

  #skip(view: SourceView, name: string, problem: string): void {
    this.#logger?.warn(`tool "${name}" is not offered: ${problem}`, { kind: view.source.kind, tool: name });
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
