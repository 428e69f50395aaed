// @connectrpc/connect reads, decompresses and parses a request before any interceptor runs, and
// reports some of the client's mistakes there as `internal`: a body that is not valid protobuf
// ("parse binary: …"), a frame flagged compressed when no compression was negotiated, a Connect
// GET whose base64 message does not decode. It also quotes JSON.parse's excerpt of the body,
// which may cut a surrogate pair; over gRPC that message goes through encodeURIComponent, which
// throws, and the call never ends. The guard checks each message the way the library is about to
// use it, just before the library gets it, and fails the read with `invalid_argument` and a short,
// well-formed message; the library keeps a ConnectError's code when reading the body fails, and
// writes it in each protocol's own way.
import type { DescMessage, DescMethod } from '@bufbuild/protobuf';
import { base64Decode } from '@bufbuild/protobuf/wire';
import { Code, ConnectError, type HandlerContext } from '@connectrpc/connect';
import {
  compressedFlag,
  createMethodSerializationLookup,
  type Compression,
  type MethodSerializationLookup,
  type UniversalHandler,
  type UniversalServerRequest,
} from '@connectrpc/connect/protocol';
import {
  endStreamFlag,
  headerStreamEncoding,
  headerUnaryEncoding,
  parseContentType as parseConnectContentType,
} from '@connectrpc/connect/protocol-connect';
import { headerEncoding as headerGrpcEncoding, parseContentType as parseGrpcContentType } from '@connectrpc/connect/protocol-grpc';
import { parseContentType as parseGrpcWebContentType, trailerFlag } from '@connectrpc/connect/protocol-grpc-web';

export interface RequestGuardOptions {
  /** The router's readMaxBytes: past it the library refuses the message itself (resource_exhausted). */
  readMaxBytes: number;
  /** The router's acceptCompression. */
  compressions: readonly Compression[];
}

/** How the library will read a request body, as its protocol negotiation decides. */
interface BodyFormat {
  enveloped: boolean;
  binary: boolean;
  /** The header that names the request's compression. */
  encodingHeader: string;
  /** Frames with this flag are not messages: the library skips them after decompressing. */
  skipFlag?: number;
}

/** A compression the library does not know: it refuses the call (unimplemented) before reading. */
const UNKNOWN = 'unknown';

export function createRequestGuard(options: RequestGuardOptions) {
  const { readMaxBytes, compressions } = options;
  const serializations = new WeakMap<DescMethod, MethodSerializationLookup<DescMessage, DescMessage>>();
  const serialization = (method: DescMethod) => {
    let lookup = serializations.get(method);
    if (!lookup) {
      // The options the router gives its handlers: none but the limits (only reading is used here).
      lookup = createMethodSerializationLookup(method, undefined, undefined, { readMaxBytes, writeMaxBytes: readMaxBytes });
      serializations.set(method, lookup);
    }
    return lookup;
  };

  const negotiated = (name: string | null): Compression | null | typeof UNKNOWN => {
    if (name === null || name === 'identity') return null;
    return compressions.find((c) => c.name === name) ?? UNKNOWN;
  };

  async function checkMessage(method: DescMethod, binary: boolean, data: Uint8Array, compression: Compression | null): Promise<void> {
    // A decompression failure is already a client error (see compression.ts).
    const bytes = compression ? await compression.decompress(data, readMaxBytes) : data;
    // JSON.parse would read bad bytes as U+FFFD and store a changed text: refuse them instead.
    if (!binary && !isUtf8(bytes)) throw new ConnectError(`the JSON message of ${method.input.typeName} is not valid UTF-8`, Code.InvalidArgument);
    try {
      serialization(method).getI(binary).parse(bytes);
    } catch (error) {
      const connectError = ConnectError.from(error);
      if (connectError.code === Code.ResourceExhausted) throw connectError;
      const detail = binary ? `cannot decode message ${method.input.typeName} from binary: ${connectError.rawMessage.replace(/^parse binary: /, '')}` : connectError.rawMessage;
      throw new ConnectError(clip(detail), Code.InvalidArgument);
    }
  }

  /** Wraps one of the router's handlers: its request body is checked on its way to the library. */
  function handler(inner: UniversalHandler): UniversalHandler {
    const guarded = (request: UniversalServerRequest) => {
      const format = bodyFormat(inner.method, request);
      const body = request.body;
      if (!format || !isAsyncIterable(body)) return inner(request);
      const compression = negotiated(request.header.get(format.encodingHeader));
      if (compression === UNKNOWN) return inner(request);
      const check = async (flags: number, data: Uint8Array) => {
        const compressed = (flags & compressedFlag) === compressedFlag;
        if (compressed && !compression) {
          throw new ConnectError(`received a compressed message, but the request names no compression (${format.encodingHeader.toLowerCase()})`, Code.InvalidArgument);
        }
        if (format.skipFlag !== undefined && (flags & format.skipFlag) === format.skipFlag) return;
        await checkMessage(inner.method, format.binary, data, compressed ? compression : null);
      };
      const checked = format.enveloped ? checkFrames(body, readMaxBytes, check) : checkWhole(body, readMaxBytes, (data) => checkMessage(inner.method, format.binary, data, compression));
      return inner({ ...request, body: checked });
    };
    return Object.assign(guarded, {
      protocolNames: inner.protocolNames,
      service: inner.service,
      method: inner.method,
      requestPath: inner.requestPath,
      supportedContentType: inner.supportedContentType,
      allowedMethods: inner.allowedMethods,
    });
  }

  /**
   * For the router's requestGate, which runs before the library reads the request: a Connect GET
   * carries its message in the query, where no body wrapper can see it.
   */
  async function requestGate(context: HandlerContext): Promise<void> {
    if (context.protocolName !== 'connect' || context.requestMethod !== 'GET') return;
    const query = new URL(context.url).searchParams;
    const compression = negotiated(query.get('compression'));
    if (compression === UNKNOWN) return;
    const message = query.get('message') ?? '';
    let data: Uint8Array;
    if (query.get('base64') === '1') {
      try {
        data = base64Decode(message);
      } catch {
        throw new ConnectError('the message query parameter is not valid base64', Code.InvalidArgument);
      }
    } else {
      data = new TextEncoder().encode(message);
    }
    // The library answers any other encoding 415 before the gate.
    await checkMessage(context.method, query.get('encoding') === 'proto', data, compression);
  }

  return { handler, requestGate };
}

function bodyFormat(method: DescMethod, request: UniversalServerRequest): BodyFormat | null {
  if (request.method !== 'POST') return null;
  const contentType = request.header.get('content-type') ?? '';
  const grpc = parseGrpcContentType(contentType);
  if (grpc) return { enveloped: true, binary: grpc.binary, encodingHeader: headerGrpcEncoding };
  const grpcWeb = parseGrpcWebContentType(contentType);
  if (grpcWeb) return grpcWeb.text ? null : { enveloped: true, binary: grpcWeb.binary, encodingHeader: headerGrpcEncoding, skipFlag: trailerFlag };
  const connect = parseConnectContentType(contentType);
  // A unary content type for a streaming RPC, or the reverse, is answered 415 unread.
  if (!connect || connect.stream !== (method.methodKind !== 'unary')) return null;
  if (connect.stream) return { enveloped: true, binary: connect.binary, encodingHeader: headerStreamEncoding, skipFlag: endStreamFlag };
  return { enveloped: false, binary: connect.binary, encodingHeader: headerUnaryEncoding };
}

function isAsyncIterable(value: unknown): value is AsyncIterable<Uint8Array> {
  return typeof value === 'object' && value !== null && Symbol.asyncIterator in value;
}

/** Short, and well-formed: a gRPC status message is percent-encoded, which a lone surrogate breaks. */
function clip(text: string, max = 200): string {
  const chars = Array.from(text.toWellFormed());
  return chars.length > max ? `${chars.slice(0, max).join('')}…` : chars.join('');
}

/**
 * Passes the body through, checking each 5-byte-prefixed frame before the chunk that completes
 * it (the library parses a frame as soon as it is whole). A frame over the limit ends the
 * checking: the library refuses it at its prefix.
 */
async function* checkFrames(body: AsyncIterable<Uint8Array>, readMaxBytes: number, check: (flags: number, data: Uint8Array) => Promise<void>): AsyncGenerator<Uint8Array> {
  const buffer = new ByteQueue();
  let header: { flags: number; length: number } | null = null;
  let checking = true;
  for await (const chunk of body) {
    if (checking) {
      buffer.push(chunk);
      for (;;) {
        if (!header) {
          if (buffer.length < 5) break;
          const prefix = buffer.take(5);
          header = { flags: prefix[0]!, length: new DataView(prefix.buffer, prefix.byteOffset, 5).getUint32(1) };
          if (header.length > readMaxBytes) {
            checking = false;
            buffer.clear();
            break;
          }
        }
        if (buffer.length < header.length) break;
        const data = buffer.take(header.length);
        const { flags } = header;
        header = null;
        await check(flags, data);
      }
    }
    yield chunk;
  }
}

/** Passes the body through, and checks it whole before telling the library it has ended. */
async function* checkWhole(body: AsyncIterable<Uint8Array>, readMaxBytes: number, check: (data: Uint8Array) => Promise<void>): AsyncGenerator<Uint8Array> {
  const buffer = new ByteQueue();
  let checking = true;
  for await (const chunk of body) {
    if (checking) {
      buffer.push(chunk);
      if (buffer.length > readMaxBytes) {
        checking = false;
        buffer.clear();
      }
    }
    yield chunk;
  }
  if (checking) await check(buffer.take(buffer.length));
}

/** Bytes in arrival order, copied once when taken. */
class ByteQueue {
  #chunks: Uint8Array[] = [];
  length = 0;

  push(chunk: Uint8Array): void {
    if (chunk.byteLength === 0) return;
    this.#chunks.push(chunk);
    this.length += chunk.byteLength;
  }

  take(n: number): Uint8Array {
    const out = new Uint8Array(n);
    let offset = 0;
    while (offset < n) {
      const chunk = this.#chunks[0]!;
      const wanted = n - offset;
      if (chunk.byteLength <= wanted) {
        out.set(chunk, offset);
        offset += chunk.byteLength;
        this.#chunks.shift();
      } else {
        out.set(chunk.subarray(0, wanted), offset);
        this.#chunks[0] = chunk.subarray(wanted);
        offset = n;
      }
    }
    this.length -= n;
    return out;
  }

  clear(): void {
    this.#chunks = [];
    this.length = 0;
  }
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

function isUtf8(bytes: Uint8Array): boolean {
  try {
    UTF8.decode(bytes);
    return true;
  } catch {
    return false;
  }
}
