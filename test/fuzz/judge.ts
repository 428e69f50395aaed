// What a correct answer to a hostile input is, and the tally of everything the fuzzer sent.
import { fromBinary, fromJson, toJson, type DescMethod, type JsonValue } from '@bufbuild/protobuf';
import { MethodOptions_IdempotencyLevel } from '@bufbuild/protobuf/wkt';
import type { FuzzInput } from './generate.ts';
import { parseFrames, type CodeName, type Outcome } from './wire.ts';

/** The codes a client's mistake may get (invariant 6, plus unimplemented for protocol features we do not offer). */
export const CLIENT_ERROR_CODES: readonly CodeName[] = ['invalid_argument', 'not_found', 'failed_precondition', 'resource_exhausted', 'unimplemented'];

export type ViolationCategory =
  /** No response at all to a well-formed HTTP request (reset, closed), or a response that is no RPC response. */
  | 'crash'
  /** No response in time. */
  | 'hang'
  /** `internal` or `unknown`: the server failed on the client's input. */
  | 'internal'
  /** Some other code a client's mistake should not get. */
  | 'unexpected-code'
  /** A rejected call changed the database, or an accepted one changed what it should not. */
  | 'write'
  /** A valid call failed after the fuzz inputs. */
  | 'liveness';

export interface Violation {
  category: ViolationCategory;
  /** protocol, RPC, kind of input */
  where: string;
  detail: string;
  /** The exact request, to reproduce it (abridged when long). */
  reproduction: string;
  /** The whole request, for the FUZZ_REPORT file. */
  request?: { path: string; method: string; headers: Record<string, string>; bodyBase64: string };
}

export function wholeRequest(input: FuzzInput): NonNullable<Violation['request']> {
  const { request } = input;
  return { path: request.path, method: request.method ?? 'POST', headers: request.headers, bodyBase64: Buffer.from(request.body).toString('base64') };
}

export type Verdict = { ok: true; accepted: boolean } | { ok: false; category: ViolationCategory; detail: string };

export interface JudgeOptions {
  /** Transport-level garbage (not an HTTP request at all): the server may just close the connection. */
  transportGarbage?: boolean;
}

export function judge(input: Pick<FuzzInput, 'alsoAllowed'>, outcome: Outcome, options: JudgeOptions = {}): Verdict {
  switch (outcome.kind) {
    case 'rpc': {
      if (outcome.code === 'ok') return { ok: true, accepted: true };
      if (CLIENT_ERROR_CODES.includes(outcome.code) || input.alsoAllowed?.includes(outcome.code)) return { ok: true, accepted: false };
      const detail = `${outcome.code} (HTTP ${outcome.httpStatus}): ${outcome.message.slice(0, 300)}`;
      if (outcome.code === 'internal' || outcome.code === 'unknown') return { ok: false, category: 'internal', detail };
      return { ok: false, category: 'unexpected-code', detail };
    }
    case 'http':
      // A transport-level refusal (415 unsupported media type, 400 from the HTTP parser, 431, 404…).
      if (outcome.httpStatus >= 400 && outcome.httpStatus < 500) return { ok: true, accepted: false };
      return { ok: false, category: 'crash', detail: `HTTP ${outcome.httpStatus} that is no RPC answer: ${outcome.detail}` };
    case 'closed':
      if (options.transportGarbage) return { ok: true, accepted: false };
      return { ok: false, category: 'crash', detail: outcome.detail };
    case 'timeout':
      return { ok: false, category: 'hang', detail: outcome.detail };
  }
}

export function describeRequest(input: FuzzInput): string {
  const { request } = input;
  const body = Buffer.from(request.body);
  const shown = body.length > 512 ? `${body.subarray(0, 256).toString('hex')}…(${body.length} bytes in all)…${body.subarray(-64).toString('hex')}` : body.toString('hex');
  return `${request.method ?? 'POST'} ${request.path.length > 200 ? `${request.path.slice(0, 200)}…` : request.path} over ${input.protocol}\nheaders: ${JSON.stringify(
    Object.fromEntries(Object.entries(request.headers).map(([k, v]) => [k, v.length > 100 ? `${v.slice(0, 100)}…(${v.length})` : v])),
  )}\nbody (hex): ${shown}`;
}

// ---------------------------------------------------------------------------------------------
// The request as the server decodes it (for accounting and for recognising known bugs).

export type Decoded = { ok: true; json: JsonValue; raw: unknown } | { ok: false };

/**
 * Decodes the request the way the server negotiates it: by its content type (framing and codec),
 * whatever protocol the fuzzer meant. Not decodable (compressed, GET, unknown type): { ok: false }.
 */
export function decodeRequest(input: FuzzInput): Decoded {
  const { headers } = input.request;
  const compressed = ['content-encoding', 'connect-content-encoding', 'grpc-encoding'].some((h) => headers[h] !== undefined && headers[h] !== 'identity');
  if (compressed || input.request.method === 'GET') return { ok: false };
  const contentType = (headers['content-type'] ?? '').toLowerCase().split(';')[0]!.trim();
  const format = /^application\/(grpc|grpc-web|connect)(\+(proto|json))?$/.exec(contentType);
  const bare = /^application\/(proto|json)$/.exec(contentType);
  if (!format && !bare) return { ok: false };
  const json = format ? format[3] === 'json' : bare![1] === 'json';
  try {
    let body = Buffer.from(input.request.body);
    if (format) {
      const { frames, rest } = parseFrames(body);
      if (frames.length !== 1 || rest.length !== 0 || frames[0]!.flags !== 0) return { ok: false };
      body = Buffer.from(frames[0]!.body);
    }
    const message = json
      ? fromJson(input.method.input, JSON.parse(new TextDecoder().decode(body)) as JsonValue, { ignoreUnknownFields: true })
      : fromBinary(input.method.input, body);
    return { ok: true, raw: message, json: toJson(input.method.input, message) };
  } catch {
    return { ok: false };
  }
}

/** Every string in a decoded message, keys of Struct fields included. */
export function stringsIn(value: unknown, out: string[] = [], depth = 0): string[] {
  if (depth > 200) return out;
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) for (const v of value) stringsIn(v, out, depth + 1);
  else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      out.push(k);
      stringsIn(v, out, depth + 1);
    }
  }
  return out;
}

const UUID = /[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}/g;

/** Ids of rows an accepted mutating call may have touched: every UUID in its request and response. */
export function touchedIds(method: DescMethod, decoded: Decoded, responses: Uint8Array[]): string[] | 'unknown' {
  if (!decoded.ok) return 'unknown';
  const ids = new Set<string>();
  for (const s of stringsIn(decoded.raw)) for (const m of s.matchAll(UUID)) ids.add(m[0].toLowerCase());
  for (const response of responses) {
    // JSON or protobuf: the response is in the format of the request (read both ways; a UUID is ASCII either way).
    let text = new TextDecoder().decode(response);
    try {
      text += JSON.stringify(toJson(method.output, fromBinary(method.output, response)));
    } catch {
      // it was JSON
    }
    for (const m of text.matchAll(UUID)) ids.add(m[0].toLowerCase());
  }
  return [...ids];
}

export function isMutating(method: DescMethod): boolean {
  return method.idempotency !== MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS;
}

// ---------------------------------------------------------------------------------------------
// The tally.

export class Tally {
  inputs = 0;
  accepted = 0;
  rejected = 0;
  readonly rpcs = new Set<string>();
  readonly protocols = new Set<string>();
  readonly violations: Violation[] = [];
  /** Inputs that hit a known, reported bug (see known-bugs.ts), by bug id. */
  readonly knownBugHits = new Map<string, number>();
  readonly kinds = new Map<string, number>();
  /** "RPC → code" counts, to see how deep the inputs reach (FUZZ_VERBOSE=1 prints them). */
  readonly answers = new Map<string, number>();

  count(category: ViolationCategory): number {
    return this.violations.filter((v) => v.category === category).length;
  }

  summary(): string {
    const crashes = this.count('crash') + this.count('hang');
    const internal = this.count('internal') + this.count('unexpected-code');
    const known = [...this.knownBugHits].map(([id, n]) => `${id}×${n}`).join(', ');
    return (
      `fuzz: ${this.inputs} inputs over ${this.rpcs.size} rpcs × ${this.protocols.size} protocols, ` +
      `${crashes} crashes, ${internal} internal errors, ${this.count('write')} writes` +
      `${this.count('liveness') ? `, ${this.count('liveness')} failed liveness checks` : ''}` +
      ` (${this.accepted} accepted, ${this.rejected} rejected${known ? `; inputs hitting known bugs, not counted above: ${known}` : ''})`
    );
  }
}
