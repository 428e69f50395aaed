// Bugs the fuzzer found in src/ (or in how src/ uses its libraries) that are not fixed yet.
// Each has an `it.fails` test in known-bugs.test.ts that shows it with one exact input. While a
// bug is open, the random fuzz counts the inputs that hit it — recognised by a precise predicate
// on the input and the server's answer — separately, instead of failing on them; everything
// else about those inputs is still checked (an answer came, nothing was written, the server
// stays up). When a bug is fixed its it.fails test fails: remove `.fails` there and the entry here.
import type { FuzzInput } from './generate.ts';
import { stringsIn, type Decoded } from './judge.ts';
import { FLAG_COMPRESSED, type Outcome } from './wire.ts';

// Three more are shown in known-bugs.test.ts; the random fuzz steers around them instead of
// recognising them, because they break the connection or the process rather than one answer:
// - h2-oversized-stream-left-open: runner.ts sends each oversized gRPC body on its own connection;
// - partial-preface-busy-loop: fuzz.test.ts never sends raw bytes that are a proper prefix of the
//   HTTP/2 preface (they would wedge the process that runs the suite);
// - reset-before-routing-crash: raw connections are closed with FIN, never reset.

export interface KnownBug {
  id: string;
  title: string;
  matches(input: FuzzInput, decoded: Decoded, outcome: Outcome): boolean;
}

const internal = (outcome: Outcome, message: (m: string) => boolean) => outcome.kind === 'rpc' && outcome.code === 'internal' && message(outcome.message);

/** U+0000, or a UTF-16 surrogate without its pair: text PostgreSQL refuses in text and json columns. */
// eslint-disable-next-line no-control-regex -- U+0000 is exactly what this looks for
export const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

export const KNOWN_BUGS: readonly KnownBug[] = [
  {
    id: 'binary-parse-internal',
    title: 'a request body that is not valid protobuf gets internal ("parse binary: …") instead of invalid_argument',
    matches: (_input, _decoded, outcome) => internal(outcome, (m) => m.startsWith('parse binary:')),
  },
  {
    id: 'compressed-flag-internal',
    title: 'a frame with the compressed flag and no compression negotiated gets internal instead of invalid_argument',
    matches: (input, _decoded, outcome) =>
      ((input.request.body[0] ?? 0) & FLAG_COMPRESSED) !== 0 && internal(outcome, (m) => m === 'received compressed envelope, but do not know how to decompress'),
  },
  {
    id: 'truncated-compressed-body-internal',
    title: 'a gzip or brotli body cut short gets internal ("decompression failed") instead of invalid_argument',
    matches: (input, _decoded, outcome) =>
      ['content-encoding', 'connect-content-encoding', 'grpc-encoding'].some((h) => ['gzip', 'br'].includes(input.request.headers[h] ?? '')) &&
      internal(outcome, (m) => m === 'decompression failed'),
  },
  {
    id: 'grpc-message-lone-surrogate-hang',
    title: 'over gRPC and gRPC-Web, a library error message with a lone surrogate (a JSON parse error quoting one) never gets its trailers: the call hangs',
    matches: (input, decoded, outcome) => outcome.kind === 'timeout' && predictsHang(input, decoded),
  },
  {
    id: 'connect-get-bad-base64-internal',
    title: 'a Connect GET request whose base64 message does not decode gets internal instead of invalid_argument',
    matches: (input, _decoded, outcome) => input.request.method === 'GET' && /[?&]base64=1/.test(input.request.path) && internal(outcome, (m) => m === 'internal error'),
  },
];

const isHighSurrogate = (code: number) => code >= 0xd800 && code <= 0xdbff;

/**
 * Whether an error message about this request could carry a lone surrogate into grpc-message,
 * where connect's setTrailerStatus calls encodeURIComponent on it, which throws: the response is
 * never finished. The runner gives such inputs a short timeout.
 */
export function predictsHang(input: FuzzInput, decoded: Decoded): boolean {
  const contentType = (input.request.headers['content-type'] ?? '').toLowerCase();
  if (!contentType.startsWith('application/grpc')) return false;
  if (decoded.ok) {
    // validate.ts truncate() cuts at 40 UTF-16 units; a lone surrogate (JSON) is echoed as is.
    return stringsIn(decoded.raw).some((s) => (s.length > 40 && isHighSurrogate(s.charCodeAt(39))) || UNSTORABLE.test(s.replaceAll('\u0000', '')));
  }
  if (!contentType.includes('json')) return false;
  // V8's JSON.parse error quotes the text around the error, and may cut a surrogate pair.
  const body = Buffer.from(input.request.body);
  try {
    JSON.parse(new TextDecoder().decode(body.subarray(5, 5 + (body.length >= 5 ? body.readUInt32BE(1) : 0))));
    return false;
  } catch (error) {
    return UNSTORABLE.test(String((error as Error).message).replaceAll('\u0000', ''));
  }
}

/**
 * For raw exchanges, where only the message of an internal error is at hand: the known bug whose
 * message it is (those with a message of the library's own, that no other failure produces).
 */
export function knownBugOfMessage(message: string): string | null {
  if (message.startsWith('parse binary:')) return 'binary-parse-internal';
  if (message === 'received compressed envelope, but do not know how to decompress') return 'compressed-flag-internal';
  if (message === 'decompression failed') return 'truncated-compressed-body-internal';
  return null;
}

export function knownBugOf(input: FuzzInput, decoded: Decoded, outcome: Outcome): string | null {
  return KNOWN_BUGS.find((bug) => bug.matches(input, decoded, outcome))?.id ?? null;
}
