import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  ErrorCode,
  McpError,
  ToolListChangedNotificationSchema,
  type Tool as McpTool,
} from '@modelcontextprotocol/sdk/types.js';
import { raceAbort } from '../race-abort.ts';
import type { SourceCallContext, SourceCallResult, SourceTool, ToolLogger, ToolSource } from '../types.ts';
import type { McpServerConfig } from './config.ts';
import { DEFAULT_MAX_RESULT_CHARS, renderCallResult } from './render-result.ts';
import { exposedToolName, inNamespace } from './tool-names.ts';

export interface McpToolSourceOptions {
  logger?: ToolLogger;
  /** Timeout of each tool call of this server; the executor's default when unset. */
  callTimeoutMs?: number;
  /** How long starting, initializing and listing may take before the attempt counts as failed. */
  connectTimeoutMs?: number;
  /** Delay before the first reconnect; doubled after each failed attempt, up to maxDelayMs. */
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** Longer results are cut, with a note saying so. */
  maxResultChars?: number;
  /** Reported to the server in `initialize`. */
  clientVersion?: string;
}

export type McpSourceState = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'closed';

const DEFAULT_CONNECT_TIMEOUT_MS = 15_000;
const DEFAULT_INITIAL_DELAY_MS = 500;
const DEFAULT_MAX_DELAY_MS = 30_000;
/** Ping timeout when a transport reports an error and we need to know whether it still works. */
const PROBE_TIMEOUT_MS = 5_000;
/** The executor's timeout must win, so that a slow call reads as a timeout rather than a transport error. */
const SDK_TIMEOUT_GRACE_MS = 1_000;
/** A server that pages forever must not hold a listing forever. */
const MAX_LIST_PAGES = 100;
const STDERR_TAIL_CHARS = 2_000;
const TERMINATE_SESSION_TIMEOUT_MS = 2_000;
/** Consecutive identical failures between two warnings. */
const REPEAT_WARNING_EVERY = 10;

interface Connection {
  client: Client;
  transport: Transport;
  phase: 'connecting' | 'connected';
  connectedAt: number;
  listing: Promise<void> | null;
  listAgain: boolean;
  probing: boolean;
  stderr: string;
}

interface ListedTool {
  original: string;
  tool: SourceTool;
}

/**
 * The tools of one MCP server, kept available across server failures: it connects at start,
 * lists again on `notifications/tools/list_changed` and after every reconnect, and when the
 * server fails or vanishes it reconnects in the background with backoff (for stdio: starts the
 * process again). Calls made meanwhile end as error outcomes saying the server is unavailable.
 * The last list stays offered while the server is away, so that conversations enabling its
 * tools keep their definitions stable and the model learns why a call failed.
 */
export class McpToolSource implements ToolSource {
  readonly kind = 'mcp' as const;
  readonly config: McpServerConfig;
  readonly #logger: ToolLogger | undefined;
  readonly #callTimeoutMs: number | undefined;
  readonly #connectTimeoutMs: number;
  readonly #initialDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #maxResultChars: number;
  readonly #clientVersion: string;
  /** Aborts whatever attempt is in flight when the source closes. */
  readonly #lifetime = new AbortController();
  /** Closings of abandoned connections; close() waits for them so no process outlives it. */
  readonly #closing = new Set<Promise<void>>();

  #state: McpSourceState = 'idle';
  #connection: Connection | null = null;
  #tools = new Map<string, ListedTool>();
  #revision = 0;
  #failures = 0;
  #timer: NodeJS.Timeout | null = null;
  #lastError: string | null = null;
  #started: Promise<void> | null = null;
  #closed: Promise<void> | null = null;

  constructor(config: McpServerConfig, options: McpToolSourceOptions = {}) {
    this.config = config;
    this.#logger = options.logger;
    this.#callTimeoutMs = options.callTimeoutMs;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.#initialDelayMs = options.initialDelayMs ?? DEFAULT_INITIAL_DELAY_MS;
    this.#maxDelayMs = options.maxDelayMs ?? DEFAULT_MAX_DELAY_MS;
    this.#maxResultChars = options.maxResultChars ?? DEFAULT_MAX_RESULT_CHARS;
    this.#clientVersion = options.clientVersion ?? '0.1.0';
  }

  get name(): string {
    return this.config.name;
  }

  get state(): McpSourceState {
    return this.#state;
  }

  /** Why the server is unavailable, for operators; null once connected. */
  get lastError(): string | null {
    return this.#lastError;
  }

  get revision(): number {
    return this.#revision;
  }

  /**
   * Makes the first connection attempt and resolves when it has succeeded or failed; it never
   * rejects. After a failure, attempts go on in the background until close().
   */
  start(): Promise<void> {
    this.#started ??= this.#attempt();
    return this.#started;
  }

  tools(): readonly SourceTool[] {
    return [...this.#tools.values()].map((entry) => entry.tool);
  }

  explainUnlisted(name: string): string | null {
    if (!inNamespace(this.config.name, name)) return null;
    return this.#state === 'connected' ? null : this.#unavailable(name);
  }

  async call(name: string, input: Record<string, unknown>, context: SourceCallContext): Promise<SourceCallResult> {
    const entry = this.#tools.get(name);
    const connection = this.#connection;
    if (!connection || connection.phase !== 'connected') return { content: this.#unavailable(name), isError: true };
    if (!entry) {
      return { content: `Tool "${name}" is no longer offered by the MCP server "${this.config.name}". Use one of the tools you were given.`, isError: true };
    }
    try {
      const result = await connection.client.callTool({ name: entry.original, arguments: input }, undefined, {
        signal: context.signal,
        timeout: context.timeoutMs + SDK_TIMEOUT_GRACE_MS,
      });
      return renderCallResult(result, this.#maxResultChars);
    } catch (error) {
      // The executor words cancellations and timeouts itself.
      if (context.signal.aborted) throw error;
      if (error instanceof McpError && error.code !== ErrorCode.ConnectionClosed) {
        // The server answered with a JSON-RPC error: the connection is fine, the call is not.
        return { content: `The MCP server "${this.config.name}" rejected the call to "${name}": ${error.message}`, isError: true };
      }
      this.#drop(connection, error);
      return {
        content:
          `The MCP server "${this.config.name}" stopped responding while running tool "${name}", so the call may or may not ` +
          'have taken effect. The server is unavailable right now; Parley is reconnecting to it. Continue without this tool, or try again later.',
        isError: true,
      };
    }
  }

  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  async #close(): Promise<void> {
    this.#state = 'closed';
    this.#lifetime.abort();
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    const connection = this.#connection;
    this.#connection = null;
    if (connection) this.#release(connection, { terminateSession: connection.phase === 'connected' });
    await Promise.allSettled([...this.#closing]);
  }

  async #attempt(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = this.#revision === 0 && this.#failures === 0 ? 'connecting' : 'reconnecting';
    const connection = this.#open();
    this.#connection = connection;
    const signal = AbortSignal.any([this.#lifetime.signal, AbortSignal.timeout(this.#connectTimeoutMs)]);
    try {
      await connection.client.connect(connection.transport, { signal, timeout: this.#connectTimeoutMs });
      await this.#list(connection, signal);
      if (this.#connection !== connection) return;
      connection.phase = 'connected';
      connection.connectedAt = Date.now();
      this.#state = 'connected';
      if (connection.listAgain) this.#relist(connection);
      const wasDown = this.#lastError !== null;
      this.#lastError = null;
      const fields = { server: this.config.name, tools: this.#tools.size };
      if (wasDown) this.#logger?.info?.(`MCP server "${this.config.name}" is available again`, fields);
      else this.#logger?.info?.(`MCP server "${this.config.name}" connected`, fields);
    } catch (error) {
      this.#drop(connection, signal.aborted && !this.#lifetime.signal.aborted ? new Error(`no answer within ${this.#connectTimeoutMs} ms`) : error);
    }
  }

  #open(): Connection {
    const client = new Client({ name: 'parley', version: this.#clientVersion }, { capabilities: {} });
    const transport = this.#transport();
    const connection: Connection = {
      client,
      transport,
      phase: 'connecting',
      connectedAt: 0,
      listing: null,
      listAgain: false,
      probing: false,
      stderr: '',
    };
    if (transport instanceof StdioClientTransport) {
      // Piped rather than inherited: the tail explains a failed start, and a server's chatter
      // should go through our logger. Reading it also keeps a chatty server from blocking.
      transport.stderr?.on('data', (chunk: Buffer) => {
        const text = chunk.toString('utf8');
        connection.stderr = (connection.stderr + text).slice(-STDERR_TAIL_CHARS);
        this.#logger?.debug?.(`MCP server "${this.config.name}" wrote to stderr`, { server: this.config.name, stderr: text.trimEnd() });
      });
    }
    // While connecting, a failure surfaces through connect() or listTools(); reacting here too would double it.
    client.onclose = () => {
      if (connection.phase === 'connected') this.#drop(connection, new McpError(ErrorCode.ConnectionClosed, 'the connection closed'));
    };
    client.onerror = (error) => {
      if (connection.phase === 'connected') void this.#probe(connection, error);
    };
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
      if (connection.phase === 'connected') this.#relist(connection);
      // The first listing may already have been answered: list again once connected.
      else connection.listAgain = true;
    });
    return connection;
  }

  #transport(): Transport {
    const config = this.config;
    if (config.transport === 'http') return new StreamableHTTPClientTransport(new URL(config.url));
    return new StdioClientTransport({ command: config.command, args: config.args, env: config.env, stderr: 'pipe' });
  }

  /** A transport error may be harmless (a dropped event stream the SDK reopens); a ping tells. */
  async #probe(connection: Connection, cause: Error): Promise<void> {
    if (connection.probing) return;
    connection.probing = true;
    try {
      await connection.client.ping({ timeout: PROBE_TIMEOUT_MS });
    } catch {
      this.#drop(connection, cause);
    } finally {
      connection.probing = false;
    }
  }

  #relist(connection: Connection): void {
    if (connection.listing) {
      connection.listAgain = true;
      return;
    }
    connection.listing = (async () => {
      do {
        connection.listAgain = false;
        try {
          await this.#list(connection, AbortSignal.any([this.#lifetime.signal, AbortSignal.timeout(this.#connectTimeoutMs)]));
        } catch (error) {
          if (this.#connection === connection && !this.#lifetime.signal.aborted) {
            this.#logger?.warn(`MCP server "${this.config.name}" could not list its tools again; keeping the previous list`, {
              server: this.config.name,
              error: describe(error),
            });
          }
        }
      } while (connection.listAgain && this.#connection === connection);
    })().finally(() => {
      connection.listing = null;
    });
  }

  async #list(connection: Connection, signal: AbortSignal): Promise<void> {
    const listed: McpTool[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < MAX_LIST_PAGES; page++) {
      const result = await connection.client.listTools(cursor === undefined ? undefined : { cursor }, { signal, timeout: this.#connectTimeoutMs });
      listed.push(...result.tools);
      cursor = result.nextCursor;
      if (cursor === undefined) break;
    }
    if (this.#connection !== connection) return;
    this.#apply(listed);
  }

  #apply(listed: readonly McpTool[]): void {
    const server = this.config.name;
    const tools = new Map<string, ListedTool>();
    for (const tool of listed) {
      if (tool.execution?.taskSupport === 'required') {
        this.#logger?.warn(`MCP tool "${tool.name}" of server "${server}" is not offered: it only runs as a task, which Parley does not support`, { server, tool: tool.name });
        continue;
      }
      const name = exposedToolName(server, tool.name);
      // The dialect marker means nothing to the model; the validator assumes draft 2020-12 anyway.
      const { $schema: _dialect, ...inputSchema } = tool.inputSchema;
      if (tools.has(name)) {
        this.#logger?.warn(`MCP tool "${tool.name}" of server "${server}" is not offered: its name maps to "${name}" like another tool's`, { server, tool: tool.name });
        continue;
      }
      tools.set(name, {
        original: tool.name,
        tool: {
          name,
          description: tool.description ?? tool.title ?? tool.annotations?.title ?? `The "${tool.name}" tool of the MCP server "${server}".`,
          inputSchema,
          ...(this.#callTimeoutMs === undefined ? {} : { timeoutMs: this.#callTimeoutMs }),
        },
      });
    }
    if (sameTools(this.#tools, tools)) return;
    this.#tools = tools;
    this.#revision++;
    this.#logger?.debug?.(`MCP server "${server}" lists ${tools.size} tools`, { server, tools: [...tools.keys()] });
  }

  /** Abandons a connection that failed, and schedules the next attempt. Stale reports are ignored. */
  #drop(connection: Connection, error: unknown): void {
    if (this.#connection !== connection || this.#state === 'closed') return;
    const wasConnected = connection.phase === 'connected';
    this.#connection = null;
    this.#state = 'reconnecting';
    this.#release(connection, { terminateSession: false });
    // A connection that held for a while earns a quick reconnect; one that keeps failing soon
    // after starting backs off as if it never came up.
    if (wasConnected && Date.now() - connection.connectedAt >= this.#maxDelayMs) this.#failures = 0;
    const delay = this.#nextDelay();
    const reason = this.#describeFailure(error);
    const repeated = !wasConnected && reason === this.#lastError;
    this.#lastError = reason;
    const stderr = connection.stderr.trim();
    const fields = { server: this.config.name, error: reason, attempts: this.#failures, ...(stderr === '' ? {} : { stderr }) };
    const retry = `${wasConnected ? 'reconnecting' : 'retrying'} in ${formatDelay(delay)}`;
    if (wasConnected) {
      this.#logger?.warn(`MCP server "${this.config.name}" became unavailable; ${retry}`, fields);
    } else if (!repeated || this.#failures % REPEAT_WARNING_EVERY === 0) {
      this.#logger?.warn(`MCP server "${this.config.name}" is unavailable; ${retry}`, fields);
    } else {
      // The same failure again: a reminder now and then is enough, the rest is detail.
      this.#logger?.debug?.(`MCP server "${this.config.name}" is still unavailable; ${retry}`, fields);
    }
    this.#timer = setTimeout(() => {
      this.#timer = null;
      void this.#attempt();
    }, delay);
    // Retrying must not keep a process alive that has nothing else to do.
    this.#timer.unref();
  }

  /** Closes a connection (for stdio: stops its process) in the background, tracked for close(). */
  #release(connection: Connection, options: { terminateSession: boolean }): void {
    connection.phase = 'connecting'; // its close must not be reported as a new failure
    const transport = connection.transport;
    const closing = (async () => {
      if (options.terminateSession && transport instanceof StreamableHTTPClientTransport) {
        // Polite, not required: a server that does not answer must not hold up shutdown.
        await raceAbort(transport.terminateSession(), AbortSignal.timeout(TERMINATE_SESSION_TIMEOUT_MS)).catch(() => undefined);
      }
      await connection.client.close().catch(() => undefined);
    })();
    this.#closing.add(closing);
    void closing.finally(() => this.#closing.delete(closing));
  }

  #nextDelay(): number {
    const base = Math.min(this.#maxDelayMs, this.#initialDelayMs * 2 ** Math.min(this.#failures, 30));
    this.#failures++;
    // Jitter spreads the reconnects of many instances after a shared server restarts.
    return Math.round(base / 2 + (Math.random() * base) / 2);
  }

  #describeFailure(error: unknown): string {
    if (error instanceof McpError && error.code === ErrorCode.ConnectionClosed && this.config.transport === 'stdio') {
      return 'the server process exited or closed its standard output';
    }
    const text = describe(error);
    return this.config.transport === 'http' ? withoutCredentials(text, this.config.url) : text;
  }

  #unavailable(name: string): string {
    return (
      `The MCP server "${this.config.name}" that provides tool "${name}" is unavailable right now; Parley is reconnecting to it. ` +
      'Continue without this tool, or try again later.'
    );
  }
}

function sameTools(a: Map<string, ListedTool>, b: Map<string, ListedTool>): boolean {
  if (a.size !== b.size) return false;
  for (const [name, entry] of a) {
    const other = b.get(name);
    if (!other || JSON.stringify(other) !== JSON.stringify(entry)) return false;
  }
  return true;
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as NodeJS.ErrnoException).code;
  const message = code && !error.message.includes(code) ? `${error.message} (${code})` : error.message;
  // fetch reports "fetch failed" and keeps the reason (ECONNREFUSED, a DNS failure) in its cause.
  return error.cause === undefined ? message : `${message}: ${describe(error.cause)}`;
}

/**
 * `text` without the credentials an MCP URL may carry: its user and password, the values of its
 * query, and the user information of any URL quoted in it (errors of fetch and of the SDK may
 * quote the URL they failed on).
 */
export function withoutCredentials(text: string, configuredUrl: string): string {
  let cleaned = text;
  let url: URL | null = null;
  try {
    url = new URL(configuredUrl);
  } catch {
    // Not a URL: the configuration parser refuses those, so nothing of it can be quoted here.
  }
  if (url) {
    // Each secret as written in the URL and decoded, each decoded on its own (one that does not
    // decode must not keep the others from being scrubbed).
    const raw = [url.username, url.password, ...url.search.replace(/^\?/, '').split('&').map((pair) => pair.slice(pair.indexOf('=') + 1))];
    const secrets = new Set<string>();
    for (const part of raw) {
      secrets.add(part);
      try {
        secrets.add(decodeURIComponent(part.replaceAll('+', ' ')));
        secrets.add(decodeURIComponent(part));
      } catch {
        // Only the raw form, then.
      }
    }
    for (const secret of [...secrets].sort((a, b) => b.length - a.length)) if (secret.length >= 3) cleaned = cleaned.replaceAll(secret, '***');
  }
  return cleaned.replace(/([a-z][a-z0-9+.-]*:\/\/)[^\s/@]*@/gi, '$1***@');
}

function formatDelay(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}
