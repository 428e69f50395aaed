// Raw clients for the fuzzer: they send exactly the bytes they are given (no client library
// between the fuzzer and the socket to "fix" a hostile request), and turn whatever comes back
// into one normalized Outcome: an RPC status, a bare HTTP status, a closed connection, or a hang.
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';

/** Status code names as Connect spells them; gRPC sends their numbers. */
export const CODE_NAMES = [
  'ok',
  'canceled',
  'unknown',
  'invalid_argument',
  'deadline_exceeded',
  'not_found',
  'already_exists',
  'permission_denied',
  'resource_exhausted',
  'failed_precondition',
  'aborted',
  'out_of_range',
  'unimplemented',
  'internal',
  'unavailable',
  'data_loss',
  'unauthenticated',
] as const;
export type CodeName = (typeof CODE_NAMES)[number];

export type Outcome =
  /** A response of the RPC protocol: a status (`ok` when accepted) and the first response message, if any. */
  | { kind: 'rpc'; code: CodeName; httpStatus: number; message: string; responses: Uint8Array[] }
  /** An HTTP response that carries no RPC status (a 415 without a body, the HTTP/1 parser's 400, …). */
  | { kind: 'http'; httpStatus: number; detail: string }
  /** The connection or stream ended without any response. */
  | { kind: 'closed'; detail: string }
  | { kind: 'timeout'; detail: string };

export const FLAG_COMPRESSED = 0x01;
export const FLAG_END_STREAM = 0x02; // Connect streaming: the end-of-stream message
export const FLAG_TRAILER = 0x80; // gRPC-Web: the trailers frame

/** A 5-byte prefixed frame: flags, then the length (by default the true one), then the body. */
export function frame(body: Uint8Array, flags = 0, declaredLength = body.length): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt8(flags, 0);
  head.writeUInt32BE(declaredLength >>> 0, 1);
  return Buffer.concat([head, body]);
}

export interface Frame {
  flags: number;
  body: Buffer;
}

/** Splits a stream of 5-byte prefixed frames; `rest` is an incomplete tail. */
export function parseFrames(data: Buffer): { frames: Frame[]; rest: Buffer } {
  const frames: Frame[] = [];
  let offset = 0;
  while (data.length - offset >= 5) {
    const length = data.readUInt32BE(offset + 1);
    if (data.length - offset - 5 < length) break;
    frames.push({ flags: data[offset]!, body: data.subarray(offset + 5, offset + 5 + length) });
    offset += 5 + length;
  }
  return { frames, rest: data.subarray(offset) };
}

function codeFromGrpc(status: string | undefined): CodeName | null {
  if (status === undefined) return null;
  const n = Number(status);
  return Number.isInteger(n) && n >= 0 && n < CODE_NAMES.length ? CODE_NAMES[n]! : 'unknown';
}

function headerValue(value: string | string[] | number | undefined): string | undefined {
  if (value === undefined) return undefined;
  return Array.isArray(value) ? value.join(',') : String(value);
}

export interface Request {
  path: string;
  method?: 'POST' | 'GET';
  headers: Record<string, string>;
  body: Uint8Array;
}

export interface CallOptions {
  timeoutMs: number;
  /** For server streams: stop reading (and cancel) once this many complete messages arrived. */
  stopAfterMessages?: number;
}

/**
 * One HTTP response of any of the protocols, judged by its content type (the server answers in
 * the protocol it recognised, which need not be the one the fuzzer meant to speak).
 */
export function interpretResponse(
  status: number,
  headers: Record<string, string | string[] | number | undefined>,
  data: Buffer,
  trailers: Record<string, string | string[] | number | undefined>,
): Outcome {
  const contentType = String(headers['content-type'] ?? '').toLowerCase();
  if (contentType.startsWith('application/grpc')) {
    // gRPC (trailers in HTTP trailers) or gRPC-Web (trailers in a frame), or trailers-only.
    const { frames } = parseFrames(data);
    const trailerFrame = frames.find((f) => (f.flags & FLAG_TRAILER) !== 0);
    const framed: Record<string, string> = {};
    if (trailerFrame) {
      for (const line of trailerFrame.body.toString('utf8').split('\r\n')) {
        const colon = line.indexOf(':');
        if (colon > 0) framed[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
    }
    const grpcStatus = headerValue(trailers['grpc-status']) ?? headerValue(headers['grpc-status']) ?? framed['grpc-status'];
    const code = codeFromGrpc(grpcStatus);
    if (status !== 200 || code === null) return { kind: 'http', httpStatus: status, detail: `${contentType} response without grpc-status` };
    const message = headerValue(trailers['grpc-message']) ?? headerValue(headers['grpc-message']) ?? framed['grpc-message'] ?? '';
    let decoded = message;
    try {
      decoded = decodeURIComponent(message);
    } catch {
      // keep it as sent
    }
    return { kind: 'rpc', code, httpStatus: status, message: decoded, responses: frames.filter((f) => (f.flags & FLAG_TRAILER) === 0).map((f) => f.body) };
  }
  if (contentType.startsWith('application/connect+')) {
    const { frames } = parseFrames(data);
    const end = frames.find((f) => (f.flags & FLAG_END_STREAM) !== 0);
    if (status !== 200 || !end) return { kind: 'http', httpStatus: status, detail: 'Connect stream without an end-of-stream message' };
    let code: CodeName = 'ok';
    let message = '';
    try {
      const parsed = JSON.parse(end.body.toString('utf8')) as { error?: { code?: string; message?: string } };
      if (parsed.error) {
        code = (CODE_NAMES as readonly string[]).includes(parsed.error.code ?? '') ? (parsed.error.code as CodeName) : 'unknown';
        message = parsed.error.message ?? '';
      }
    } catch {
      return { kind: 'http', httpStatus: status, detail: 'unparsable Connect end-of-stream message' };
    }
    return { kind: 'rpc', code, httpStatus: status, message, responses: frames.filter((f) => (f.flags & FLAG_END_STREAM) === 0).map((f) => f.body) };
  }
  // Connect unary: 200 with the message, or an error as JSON.
  if (status === 200 && (contentType.startsWith('application/proto') || contentType.startsWith('application/json'))) {
    return { kind: 'rpc', code: 'ok', httpStatus: status, message: '', responses: [data] };
  }
  if (contentType.startsWith('application/json')) {
    try {
      const parsed = JSON.parse(data.toString('utf8')) as { code?: string; message?: string };
      const code = (CODE_NAMES as readonly string[]).includes(parsed.code ?? '') ? (parsed.code as CodeName) : 'unknown';
      return { kind: 'rpc', code, httpStatus: status, message: parsed.message ?? '', responses: [] };
    } catch {
      // fall through: a bare HTTP response
    }
  }
  return { kind: 'http', httpStatus: status, detail: `${contentType || 'no content-type'}: ${data.subarray(0, 200).toString('utf8')}` };
}

// ---------------------------------------------------------------------------------------------
// gRPC over HTTP/2 (h2c with prior knowledge), one session reused until the server ends it.

export class H2Client {
  #session: http2.ClientHttp2Session | null = null;
  readonly #origin: string;
  constructor(origin: string) {
    this.#origin = origin;
  }

  #connect(): http2.ClientHttp2Session {
    if (this.#session && !this.#session.closed && !this.#session.destroyed) return this.#session;
    const session = http2.connect(this.#origin);
    session.on('error', () => {}); // reported through the stream; a broken session is replaced
    session.on('goaway', () => {
      if (this.#session === session) this.#session = null;
    });
    session.on('close', () => {
      if (this.#session === session) this.#session = null;
    });
    this.#session = session;
    return session;
  }

  close(): void {
    this.#session?.destroy();
    this.#session = null;
  }

  call(request: Request, options: CallOptions): Promise<Outcome> {
    const session = this.#connect();
    return new Promise((resolve) => {
      let settled = false;
      let status: number | null = null;
      let headers: http2.IncomingHttpHeaders = {};
      let data = Buffer.alloc(0);
      // A stream is cancelled only when the fuzzer stops waiting for its response. One whose
      // response is complete is left to end on its own (the server reads or resets the rest of
      // the body): cancelling it with request body unsent would make Node's http2 client keep
      // that body's size counted against its session memory for good, and after two 4 MiB
      // bodies it refuses every new stream (NGHTTP2_ENHANCE_YOUR_CALM).
      const finish = (outcome: Outcome, cancel = false) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (cancel && !stream.closed) stream.close(http2.constants.NGHTTP2_CANCEL);
        resolve(outcome);
      };
      const stream = session.request({
        ':method': request.method ?? 'POST',
        ':path': request.path,
        ...request.headers,
      });
      const timer = setTimeout(() => finish({ kind: 'timeout', detail: `no complete response in ${options.timeoutMs} ms` }, true), options.timeoutMs);
      const fromTrailers = (trailers: http2.IncomingHttpHeaders): Outcome => interpretResponse(status ?? 0, headers, data, trailers);
      stream.on('response', (h) => {
        headers = h;
        status = Number(h[':status']);
        // Trailers-only response: the status is in the headers.
        if (h['grpc-status'] !== undefined) finish(fromTrailers(h));
      });
      stream.on('data', (chunk: Buffer) => {
        data = Buffer.concat([data, chunk]);
        if (options.stopAfterMessages !== undefined && status === 200) {
          const messages = parseFrames(data).frames.filter((f) => (f.flags & (FLAG_TRAILER | FLAG_END_STREAM)) === 0);
          if (messages.length >= options.stopAfterMessages) {
            finish({ kind: 'rpc', code: 'ok', httpStatus: 200, message: '(stream cancelled by the fuzzer after its first message)', responses: messages.map((f) => f.body) }, true);
          }
        }
      });
      stream.on('trailers', (t) => finish(fromTrailers(t)));
      stream.on('end', () => {
        if (status === null) return finish({ kind: 'closed', detail: 'stream ended without headers' });
        finish(fromTrailers({}));
      });
      stream.on('close', () => {
        if (status === null) finish({ kind: 'closed', detail: `stream closed without a response (RST_STREAM code ${stream.rstCode})` });
        else finish(fromTrailers({}));
      });
      stream.on('error', (error) => {
        if (status === null) finish({ kind: 'closed', detail: `stream error without a response: ${error.message}` });
      });
      // A write the server refuses (it answered early and reset the stream) is not our outcome.
      stream.end(Buffer.from(request.body), () => {});
    });
  }
}

// ---------------------------------------------------------------------------------------------
// HTTP/1.1: gRPC-Web and Connect. One connection per request, so a connection the server
// closes after a bad request never leaks into the next input.

export function h1Call(origin: string, request: Request, options: CallOptions): Promise<Outcome> {
  const url = new URL(request.path, origin);
  return new Promise((resolve) => {
    let settled = false;
    let response: http.IncomingMessage | null = null;
    let data = Buffer.alloc(0);
    const finish = (outcome: Outcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(outcome);
    };
    const req = http.request({
      host: url.hostname,
      port: url.port,
      path: url.pathname + url.search,
      method: request.method ?? 'POST',
      headers: { ...request.headers, ...(request.method === 'GET' ? {} : { 'content-length': String(request.body.length) }) },
      agent: false,
    });
    const timer = setTimeout(() => finish({ kind: 'timeout', detail: `no complete response in ${options.timeoutMs} ms` }), options.timeoutMs);
    const interpret = (): Outcome => interpretResponse(response!.statusCode ?? 0, response!.headers, data, response!.trailers);
    req.on('response', (res) => {
      response = res;
      res.on('data', (chunk: Buffer) => {
        data = Buffer.concat([data, chunk]);
        if (options.stopAfterMessages !== undefined && res.statusCode === 200) {
          const messages = parseFrames(data).frames.filter((f) => (f.flags & (FLAG_TRAILER | FLAG_END_STREAM)) === 0);
          if (messages.length >= options.stopAfterMessages) {
            finish({ kind: 'rpc', code: 'ok', httpStatus: 200, message: '(stream cancelled by the fuzzer after its first message)', responses: messages.map((f) => f.body) });
          }
        }
      });
      res.on('end', () => finish(interpret()));
      res.on('aborted', () => finish(interpret()));
      res.on('error', () => finish(interpret()));
    });
    req.on('error', (error) => {
      if (response) finish(interpret());
      else finish({ kind: 'closed', detail: `connection ended without a response: ${error.message}` });
    });
    req.end(Buffer.from(request.body));
  });
}

// ---------------------------------------------------------------------------------------------
// Raw TCP: bytes in, whatever comes back until the server closes (or the time is up).

export interface RawResult {
  /** What the server sent back. */
  received: Buffer;
  /** How the connection ended. */
  end: 'closed' | 'reset' | 'timeout';
  /** The HTTP status of the first status line, if the server sent one. */
  httpStatus: number | null;
}

export function rawExchange(port: number, bytes: Uint8Array, options: { timeoutMs: number; halfClose: boolean }): Promise<RawResult> {
  return new Promise((resolve) => {
    let received = Buffer.alloc(0);
    let settled = false;
    const socket = net.connect({ port, host: '127.0.0.1' });
    const finish = (end: RawResult['end']) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const match = /^HTTP\/1\.[01] (\d{3})/.exec(received.subarray(0, 16).toString('latin1'));
      resolve({ received, end, httpStatus: match ? Number(match[1]) : null });
    };
    const timer = setTimeout(() => finish('timeout'), options.timeoutMs);
    socket.on('connect', () => {
      socket.write(bytes);
      if (options.halfClose) socket.end();
    });
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
    });
    socket.on('end', () => finish('closed'));
    socket.on('close', () => finish('closed'));
    socket.on('error', () => finish('reset'));
  });
}
