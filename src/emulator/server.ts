import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import { prefixPoints } from './cache-prefix.ts';
import { DEFAULT_CONTEXT_TOKENS } from './context-window.ts';
import { ApiRequestError, DEFAULT_ERROR_MESSAGES, errorBody, invalidRequest, statusForErrorType } from './errors.ts';
import { newMessageId, newRequestId, newToolUseId, signThinking } from './ids.ts';
import { checkModelOptions, checkModelServed, type ThinkingDisplay } from './model-checks.ts';
import { rulesFor } from './model-rules.ts';
import { offlineReply, type OfflineModelOptions } from './offline-model.ts';
import { countTokens, prepareMessages, type PreparedMessages } from './prepare.ts';
import { PromptCache, type CacheLookup, type PromptCacheOptions } from './prompt-cache.ts';
import { planReply, type ReplyPlan, type ResponseMessage } from './reply-plan.ts';
import { AbortedError, dropConnection, formatEvent, Pacer, sleep, untilAborted, writeChunk } from './sse.ts';
import type {
  ApiErrorType,
  HttpErrorTurn,
  Interruption,
  MessagesRequest,
  RecordedRequest,
  ReplyTurn,
  Responder,
  Turn,
} from './types.ts';
import { parseCountTokensRequest, parseMessagesRequest } from './validate.ts';

export interface PingOptions {
  /** A ping after every N output tokens: deterministic interleaving for tests. */
  readonly everyTokens?: number;
  /** A ping every N ms while a stream is open (not while stalled), like the API during long pauses. */
  readonly intervalMs?: number;
}

export interface AnthropicEmulatorOptions {
  /** Default 0: an ephemeral port. The emulator only ever binds 127.0.0.1. */
  readonly port?: number;
  /** Decides turns once the scripted queue is empty; default: the offline model. */
  readonly responder?: Responder;
  /** Settings of the default responder. */
  readonly offline?: OfflineModelOptions;
  readonly ping?: PingOptions;
  /** When set, only this key is accepted; otherwise any key, as long as one is sent. */
  readonly apiKey?: string;
  /**
   * Default true: tool_use/tool_result pairing, thinking-before-tool-use and thinking signatures
   * are checked as the API checks them.
   */
  readonly strictHistory?: boolean;
  /**
   * Default 200,000, the current models' window: a longer request (input after context editing,
   * plus max_tokens) gets the API's 400.
   */
  readonly contextTokens?: number;
  /** Default 32 MiB, the API's request size limit. */
  readonly maxBodyBytes?: number;
  /**
   * Default: unlimited, as tests want the whole log. A long-running service caps it, keeping the
   * newest requests only, so the log cannot grow without bound.
   */
  readonly maxRecordedRequests?: number;
  /**
   * Models the emulator answers as the API answers one it no longer serves: 404
   * `not_found_error`, `model: <name>`. Exact names, or prefixes ending in `*`. Default: none, so
   * any model name is answered.
   */
  readonly retiredModels?: readonly string[];
  readonly promptCache?: EmulatorPromptCacheOptions;
}

export interface EmulatorPromptCacheOptions extends PromptCacheOptions {
  /** Overrides the per-model minimum cacheable prefix (model-rules.ts) for every model. */
  readonly minCacheableTokens?: number;
}

const MESSAGES_PATH = '/v1/messages';
const COUNT_TOKENS_PATH = '/v1/messages/count_tokens';
const REDACTED = '[redacted]';
const SECRET_HEADERS: ReadonlySet<string> = new Set(['x-api-key', 'authorization']);
const DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024;
/** Enough to verify every thinking block a conversation replays, without growing forever. */
const MAX_REMEMBERED_SIGNATURES = 10_000;

interface RequestWaiter {
  readonly count: number;
  readonly path: string | undefined;
  readonly resolve: (requests: readonly RecordedRequest[]) => void;
  readonly reject: (error: Error) => void;
}

class BodyTooLarge extends Error {}

/**
 * An HTTP server that speaks the Anthropic Messages API well enough that `@anthropic-ai/sdk`
 * cannot tell it from the real one. Tests script it turn by turn and read back every request.
 */
export class AnthropicEmulator {
  readonly #options: AnthropicEmulatorOptions;
  readonly #signingKey = randomBytes(32);
  readonly #signatures = new Map<string, string>();
  readonly #queue: Turn[] = [];
  readonly #requests: RecordedRequest[] = [];
  readonly #answered: AnsweredMessage[] = [];
  readonly #waiters = new Set<RequestWaiter>();
  readonly #idleWaiters: Array<() => void> = [];
  readonly #cache: PromptCache;
  readonly #defaultResponder: Responder;
  #responder: Responder;
  #ping: PingOptions | undefined;
  #server: Server | undefined;
  #url: string | undefined;
  #closing = new AbortController();
  #inFlight = 0;

  constructor(options: AnthropicEmulatorOptions = {}) {
    this.#options = options;
    const offline = options.offline ?? {};
    this.#defaultResponder = options.responder ?? ((request) => offlineReply(request, offline));
    this.#responder = this.#defaultResponder;
    this.#ping = options.ping;
    this.#cache = new PromptCache(options.promptCache);
  }

  /** Listens on 127.0.0.1 and returns the base URL to give the SDK as `baseURL`. */
  async start(): Promise<string> {
    if (this.#url !== undefined) return this.#url;
    const server = createServer((req, res) => this.#onRequest(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#options.port ?? 0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    const { port } = server.address() as AddressInfo;
    this.#server = server;
    this.#url = `http://127.0.0.1:${port}`;
    return this.#url;
  }

  get url(): string {
    if (this.#url === undefined) throw new Error('The emulator is not started: call start() first');
    return this.#url;
  }

  /** Ends every open response (stalled ones included) and stops listening. */
  async close(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    this.#url = undefined;
    this.#closing.abort();
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    await this.whenIdle();
    this.#closing = new AbortController();
    for (const waiter of this.#waiters) waiter.reject(new Error('The emulator closed'));
    this.#waiters.clear();
  }

  /** Scripted turns, consumed one per `POST /v1/messages` that passes validation. */
  enqueue(...turns: Turn[]): this {
    this.#queue.push(...turns);
    return this;
  }

  /** Turns still queued. */
  get pending(): number {
    return this.#queue.length;
  }

  /** `undefined` restores the default (the offline model, or the responder given at construction). */
  setResponder(responder: Responder | undefined): this {
    this.#responder = responder ?? this.#defaultResponder;
    return this;
  }

  setPing(ping: PingOptions | undefined): this {
    this.#ping = ping;
    return this;
  }

  /** Every request received, in order, whatever its path or outcome. */
  get requests(): readonly RecordedRequest[] {
    return [...this.#requests];
  }

  /** Every message answered whole, in order, with the usage it reported: what the API would bill. */
  get answered(): readonly AnsweredMessage[] {
    return [...this.#answered];
  }

  /** Bodies of the `POST /v1/messages` requests, in order: the histories that reached the model. */
  get messageBodies(): readonly unknown[] {
    return this.#requests.filter((r) => r.method === 'POST' && r.path === MESSAGES_PATH).map((r) => r.body);
  }

  /** Responses still being written (a stalled stream counts until its client aborts). */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Resolves once `count` requests (to `path`, when given) have arrived. */
  waitForRequests(count: number, path?: string): Promise<readonly RecordedRequest[]> {
    return new Promise((resolve, reject) => {
      const waiter: RequestWaiter = { count, path, resolve, reject };
      if (!this.#settle(waiter)) this.#waiters.add(waiter);
    });
  }

  /** Resolves when no response is in flight: e.g. the emulator has seen a client abort. */
  whenIdle(): Promise<void> {
    if (this.#inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Forgets queued turns, recorded requests and the prompt cache, and restores the default responder. */
  reset(): void {
    this.#cache.clear();
    this.#queue.length = 0;
    this.#requests.length = 0;
    this.#answered.length = 0;
    this.#responder = this.#defaultResponder;
  }

  #settle(waiter: RequestWaiter): boolean {
    const matching = this.#requests.filter((r) => waiter.path === undefined || r.path === waiter.path);
    if (matching.length < waiter.count) return false;
    waiter.resolve(matching);
    return true;
  }

  #record(request: RecordedRequest): void {
    this.#requests.push(request);
    const excess = this.#requests.length - (this.#options.maxRecordedRequests ?? Infinity);
    if (excess > 0) this.#requests.splice(0, excess);
    for (const waiter of this.#waiters) if (this.#settle(waiter)) this.#waiters.delete(waiter);
  }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    this.#inFlight += 1;
    this.#handle(req, res)
      .catch((error: unknown) => this.#fail(res, error))
      .finally(() => {
        this.#inFlight -= 1;
        if (this.#inFlight === 0) for (const resolve of this.#idleWaiters.splice(0)) resolve();
      });
  }

  #fail(res: ServerResponse, error: unknown): void {
    if (error instanceof AbortedError || this.#closing.signal.aborted || res.headersSent) {
      res.destroy();
      return;
    }
    const message = error instanceof Error ? error.message : String(error);
    sendError(res, 'api_error', `Emulator failure: ${message}`);
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = newRequestId();
    res.setHeader('request-id', requestId);
    const clientGone = new AbortController();
    res.once('close', () => clientGone.abort());
    const signal = AbortSignal.any([clientGone.signal, this.#closing.signal]);

    const method = req.method ?? 'GET';
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    const headers = redactHeaders(req);
    let rawBody = '';
    let tooLarge = false;
    try {
      rawBody = await readBody(req, this.#options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES);
    } catch (error) {
      if (!(error instanceof BodyTooLarge)) throw error;
      tooLarge = true;
    }
    const parsed = parseJson(rawBody);
    const recorded: RecordedRequest = {
      method,
      path,
      headers,
      body: parsed.ok ? parsed.value : undefined,
      rawBody,
      requestId,
    };
    this.#record(recorded);

    try {
      if (path !== MESSAGES_PATH && path !== COUNT_TOKENS_PATH) {
        throw new ApiRequestError('not_found_error', 'Not Found');
      }
      if (method !== 'POST') {
        sendJson(res, 405, errorBody('invalid_request_error', 'Method Not Allowed', requestId), { allow: 'POST' });
        return;
      }
      this.#authenticate(req);
      if (req.headers['anthropic-version'] === undefined) {
        throw invalidRequest('anthropic-version: header is required');
      }
      if (tooLarge) throw new ApiRequestError('request_too_large', DEFAULT_ERROR_MESSAGES.request_too_large);
      if (!parsed.ok) throw invalidRequest(`There was an issue with your request body: ${parsed.error}`);
      const validation = { strictHistory: this.#options.strictHistory ?? true, knownSignatures: this.#signatures };
      const betas = headerValue(req, 'anthropic-beta');
      const retired = this.#options.retiredModels ?? [];
      if (path === COUNT_TOKENS_PATH) {
        const request = parseCountTokensRequest(parsed.value, validation);
        checkModelServed(request.model, retired);
        // parseCountTokensRequest has just checked that the body is an object.
        sendJson(res, 200, countTokens(parsed.value as Record<string, unknown>, request, betas));
        return;
      }
      const request = parseMessagesRequest(parsed.value, validation);
      checkModelServed(request.model, retired);
      const { display } = checkModelOptions(request);
      const prepared = prepareMessages(request, betas, this.#options.contextTokens ?? DEFAULT_CONTEXT_TOKENS);
      const cache = this.#lookupCache(prepared);
      const turn = this.#queue.shift() ?? (await this.#respond(prepared.request, recorded, signal));
      if ('httpError' in turn) {
        sendHttpError(res, turn);
        return;
      }
      const usage = await this.#reply(res, { prepared, cache, display }, turn, signal);
      // A reply cut off (an error event, a drop, a stall) reports no final usage.
      if (!turn.interrupt) this.#answered.push({ requestId: recorded.requestId, usage });
    } catch (error) {
      if (!(error instanceof ApiRequestError)) throw error;
      sendError(res, error.type, error.message);
    }
  }

  #authenticate(req: IncomingMessage): void {
    const apiKey = headerValue(req, 'x-api-key');
    const bearer = /^Bearer\s+(\S.*)$/i.exec(headerValue(req, 'authorization') ?? '')?.[1];
    const presented = apiKey ?? bearer;
    if (presented === undefined) throw new ApiRequestError('authentication_error', 'x-api-key header is required');
    if (this.#options.apiKey !== undefined && presented !== this.#options.apiKey) {
      throw new ApiRequestError('authentication_error', 'invalid x-api-key');
    }
  }

  async #respond(request: MessagesRequest, recorded: RecordedRequest, signal: AbortSignal): Promise<Turn> {
    try {
      // A responder that never settles must not keep close() waiting.
      return await new Promise<Turn>((resolve, reject) => {
        const onAbort = (): void => reject(new AbortedError());
        signal.addEventListener('abort', onAbort, { once: true });
        Promise.resolve()
          .then(() => this.#responder(request, recorded))
          .then(resolve, reject)
          .finally(() => signal.removeEventListener('abort', onAbort));
      });
    } catch (error) {
      if (error instanceof AbortedError) throw error;
      const message = error instanceof Error ? error.message : String(error);
      return { httpError: { status: 500, type: 'api_error', message: `Emulator responder failed: ${message}` } };
    }
  }

  /** Counts what the request reads from and writes to the prompt cache; a bad cache_control is a 400. */
  #lookupCache(prepared: PreparedMessages): CacheLookup {
    const { request } = prepared;
    const points = prefixPoints(request, request.cache_control);
    const minTokens = this.#options.promptCache?.minCacheableTokens ?? rulesFor(request.model).minCacheableTokens;
    return this.#cache.lookup(points, prepared.inputTokens, minTokens);
  }

  /** Writes the reply; resolves with the usage the whole message reports. */
  async #reply(res: ServerResponse, answer: Answer, turn: ReplyTurn, signal: AbortSignal): Promise<ResponseMessage['usage']> {
    const { prepared, cache } = answer;
    const { request } = prepared;
    // "The system caches the prefix once the response begins" (the prompt-caching docs): a
    // reply cut off later has still written it.
    cache.commit();
    const plan = planReply(turn, {
      model: request.model,
      maxTokens: request.max_tokens,
      stopSequences: request.stop_sequences ?? [],
      inputTokens: prepared.inputTokens,
      cache: cache.usage,
      ...(answer.display ? { thinkingDisplay: answer.display } : {}),
      ...(prepared.contextManagement ? { contextManagement: prepared.contextManagement } : {}),
      messageId: newMessageId(),
      newToolUseId,
      sign: (thinking) => signThinking(this.#signingKey, thinking),
    });
    for (const [signature, thinking] of plan.signatures) this.#rememberSignature(signature, thinking);
    if (request.stream === true) await this.#stream(res, plan, turn, signal);
    else await this.#respondWhole(res, plan, turn, signal);
    return plan.message.usage;
  }

  #rememberSignature(signature: string, thinking: string): void {
    this.#signatures.delete(signature);
    this.#signatures.set(signature, thinking);
    // Maps iterate in insertion order: the first key is the oldest.
    for (const oldest of this.#signatures.keys()) {
      if (this.#signatures.size <= MAX_REMEMBERED_SIGNATURES) break;
      this.#signatures.delete(oldest);
    }
  }

  async #stream(res: ServerResponse, plan: ReplyPlan, turn: ReplyTurn, signal: AbortSignal): Promise<void> {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
    });
    res.flushHeaders();
    const stopPings = this.#startPingTimer(res);
    try {
      const pacer = new Pacer(turn.tokensPerSecond);
      const everyTokens = this.#ping?.everyTokens;
      const interrupt = turn.interrupt;
      let tokens = 0;
      for (const step of plan.events) {
        const interruptNow =
          interrupt !== undefined &&
          ((step.tokens > 0 && tokens >= interrupt.afterTokens) || step.data.type === 'message_delta');
        if (interruptNow) {
          stopPings();
          await interruptStream(res, interrupt, signal);
          return;
        }
        if (step.tokens > 0) await pacer.beforeToken(signal);
        await writeChunk(res, formatEvent(step.data), signal);
        tokens += step.tokens;
        if (everyTokens !== undefined && everyTokens > 0 && step.tokens > 0 && tokens % everyTokens === 0) {
          await writeChunk(res, formatEvent({ type: 'ping' }), signal);
        }
      }
      res.end();
    } finally {
      stopPings();
    }
  }

  #startPingTimer(res: ServerResponse): () => void {
    const intervalMs = this.#ping?.intervalMs;
    if (intervalMs === undefined || intervalMs <= 0) return () => {};
    const timer = setInterval(() => {
      if (!res.writableEnded && !res.destroyed) res.write(formatEvent({ type: 'ping' }));
    }, intervalMs);
    return () => clearInterval(timer);
  }

  async #respondWhole(res: ServerResponse, plan: ReplyPlan, turn: ReplyTurn, signal: AbortSignal): Promise<void> {
    const pacer = new Pacer(turn.tokensPerSecond);
    const interrupt = turn.interrupt;
    const total = plan.message.usage.output_tokens;
    const tokens = interrupt ? Math.min(interrupt.afterTokens, total) : total;
    // A non-streaming reply arrives only once the whole message is generated.
    if (pacer.paced) await sleep(pacer.durationOf(tokens), signal);
    if (!interrupt) {
      sendJson(res, 200, plan.message);
      return;
    }
    switch (interrupt.kind) {
      case 'error_event': {
        const type = interrupt.errorType ?? 'overloaded_error';
        sendError(res, type, interrupt.message ?? DEFAULT_ERROR_MESSAGES[type]);
        return;
      }
      case 'drop':
        dropConnection(res);
        return;
      case 'stall':
        await untilAborted(signal);
        res.destroy();
        return;
    }
  }
}

async function interruptStream(res: ServerResponse, interrupt: Interruption, signal: AbortSignal): Promise<void> {
  switch (interrupt.kind) {
    case 'error_event': {
      const type = interrupt.errorType ?? 'overloaded_error';
      await writeChunk(res, formatEvent(errorBody(type, interrupt.message ?? DEFAULT_ERROR_MESSAGES[type])), signal);
      res.end();
      return;
    }
    case 'drop':
      dropConnection(res);
      return;
    case 'stall':
      await untilAborted(signal);
      res.destroy();
      return;
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(payload),
  });
  res.end(payload);
}

function sendError(res: ServerResponse, type: ApiErrorType, message: string, status = statusForErrorType(type)): void {
  const requestId = res.getHeader('request-id');
  sendJson(res, status, errorBody(type, message, typeof requestId === 'string' ? requestId : undefined));
}

function sendHttpError(res: ServerResponse, turn: HttpErrorTurn): void {
  const { status, type, message, retryAfterSeconds, retryAfterMs, headers } = turn.httpError;
  for (const [name, value] of Object.entries(headers ?? {})) res.setHeader(name, value);
  if (retryAfterSeconds !== undefined) res.setHeader('retry-after', String(retryAfterSeconds));
  if (retryAfterMs !== undefined) res.setHeader('retry-after-ms', String(retryAfterMs));
  sendError(res, type, message ?? DEFAULT_ERROR_MESSAGES[type], status);
}

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

function redactHeaders(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const name of Object.keys(req.headers)) {
    const value = headerValue(req, name);
    if (value !== undefined) headers[name] = SECRET_HEADERS.has(name) ? REDACTED : value;
  }
  return headers;
}

async function readBody(req: IncomingMessage, maxBytes: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  let tooLarge = false;
  for await (const chunk of req) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    size += buffer.length;
    // Keep reading (and discarding) so the client gets a response instead of a reset socket.
    if (size > maxBytes) tooLarge = true;
    else chunks.push(buffer);
  }
  if (tooLarge) throw new BodyTooLarge();
  return Buffer.concat(chunks).toString('utf8');
}

type JsonResult = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: string };

function parseJson(raw: string): JsonResult {
  if (raw.length === 0) return { ok: false, error: 'the body is empty' };
  try {
    return { ok: true, value: JSON.parse(raw) as unknown };
  } catch (error) {
    return { ok: false, error: `invalid JSON (${error instanceof Error ? error.message : String(error)})` };
  }
}

interface Answer {
  readonly prepared: PreparedMessages;
  readonly cache: CacheLookup;
  readonly display: ThinkingDisplay | undefined;
}

/** A message the emulator answered whole, and the usage it reported for it. */
export interface AnsweredMessage {
  readonly requestId: string;
  readonly usage: ResponseMessage['usage'];
}
