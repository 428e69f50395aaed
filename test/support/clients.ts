// The four ways a caller reaches Parley, behind one interface so that a contract case runs on
// each: grpc-js with proto-loader reading proto/ (as a backend in another codebase would), and
// connect-node over gRPC, gRPC-Web and Connect. Requests and responses are written as proto3
// JSON, converted at the edge of each client.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fromBinary, fromJson, toBinary, toJson, type DescMessage, type DescMethod, type DescService, type JsonValue } from '@bufbuild/protobuf';
import { anyUnpack, type Duration } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError, createClient, type Interceptor, type Transport } from '@connectrpc/connect';
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from '@connectrpc/connect-node';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import { RetryInfoSchema } from '../../gen/google/rpc/error_details_pb.ts';
import { StatusSchema } from '../../gen/google/rpc/status_pb.ts';
import { ConversationService } from '../../gen/parley/v1/conversation_service_pb.ts';

export type CallResult =
  | { ok: true; response: JsonValue }
  /** `retryDelayMs`: the google.rpc.RetryInfo detail, when the error carried one. */
  | { ok: false; code: Code; message: string; retryDelayMs?: number };

export interface StreamResult {
  responses: JsonValue[];
  /** How the stream ended: null when it ended cleanly or was cut off by `take`. */
  error: { code: Code; message: string } | null;
}

export interface StreamOptions {
  take?: number;
  timeoutMs?: number;
  onResponse?: (response: JsonValue) => void;
}

export interface RpcClient {
  readonly name: string;
  unary(method: string, request: JsonValue): Promise<CallResult>;
  /**
   * Reads a server stream until it ends, fails, or `take` responses arrived (then cancels).
   * `onResponse` sees each response as it arrives, for a test that acts while the stream is open.
   */
  stream(method: string, request: JsonValue, options?: StreamOptions): Promise<StreamResult>;
  close(): void;
}

const PROTO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../proto');
const SERVICE = ConversationService.typeName;

function methodOf(service: DescService, name: string): DescMethod {
  const found = service.methods.find((m) => m.name === name);
  if (!found) throw new Error(`no method ${name} in ${service.typeName}`);
  return found;
}

export const CLIENT_KINDS = ['grpc-js', 'connect-node/grpc', 'connect-node/grpc-web', 'connect-node/connect'] as const;
export type ClientKind = (typeof CLIENT_KINDS)[number];

export interface ClientOptions {
  /** Sent as `authorization: Bearer <token>` on every call. */
  token?: string;
  /** Sent as the `authorization` header as it is (malformed ones, for tests of bad input). */
  authorization?: string;
  /** More headers (metadata) sent on every call. */
  headers?: Record<string, string>;
  /** The service called (ConversationService unless given): grpc-js reads its file from proto/. */
  service?: DescService;
  /** Sees the response headers (metadata) of every call that got them, names in lower case. */
  onResponseHeaders?: (headers: Record<string, string>) => void;
}

export function createRpcClient(kind: ClientKind, baseUrl: string, options: ClientOptions = {}): RpcClient {
  const authorization = options.authorization ?? (options.token === undefined ? undefined : `Bearer ${options.token}`);
  const headers = { ...options.headers, ...(authorization === undefined ? {} : { authorization }) };
  const onHeaders = options.onResponseHeaders;
  const interceptors: Interceptor[] = [
    (next) => async (request) => {
      for (const [name, value] of Object.entries(headers)) request.header.set(name, value);
      try {
        const response = await next(request);
        onHeaders?.(Object.fromEntries(response.header));
        return response;
      } catch (error) {
        // A failed call's headers come with its error.
        if (error instanceof ConnectError) onHeaders?.(Object.fromEntries(error.metadata));
        throw error;
      }
    },
  ];
  const service = options.service ?? ConversationService;
  switch (kind) {
    case 'grpc-js':
      return grpcJsClient(service, baseUrl, headers, onHeaders);
    case 'connect-node/grpc':
      return connectClient(service, kind, createGrpcTransport({ baseUrl, interceptors }));
    case 'connect-node/grpc-web':
      return connectClient(service, kind, createGrpcWebTransport({ baseUrl, httpVersion: '1.1', interceptors }));
    case 'connect-node/connect':
      return connectClient(service, kind, createConnectTransport({ baseUrl, httpVersion: '1.1', interceptors }));
  }
}

function connectClient(service: DescService, name: string, transport: Transport): RpcClient {
  const method = (methodName: string) => methodOf(service, methodName);
  const client = createClient(service, transport) as unknown as Record<
    string,
    (request: unknown, options?: { signal?: AbortSignal }) => unknown
  >;
  const failure = (error: unknown): CallResult => {
    const e = ConnectError.from(error);
    const [retry] = e.findDetails(RetryInfoSchema);
    return { ok: false as const, code: e.code, message: e.rawMessage, ...delay(retry?.retryDelay) };
  };
  return {
    name,
    async unary(methodName, request) {
      const m = method(methodName);
      try {
        const response = await (client[m.localName]!(fromJson(m.input, request)) as Promise<never>);
        return { ok: true, response: toJson(m.output, response) };
      } catch (error) {
        return failure(error);
      }
    },
    async stream(methodName, request, options = {}) {
      const m = method(methodName);
      const abort = new AbortController();
      const timer = setTimeout(() => abort.abort(), options.timeoutMs ?? 10_000);
      const responses: JsonValue[] = [];
      try {
        const stream = client[m.localName]!(fromJson(m.input, request), { signal: abort.signal }) as AsyncIterable<never>;
        for await (const response of stream) {
          responses.push(toJson(m.output, response));
          options.onResponse?.(responses.at(-1)!);
          if (options.take !== undefined && responses.length >= options.take) {
            abort.abort();
            break;
          }
        }
        return { responses, error: null };
      } catch (error) {
        const e = ConnectError.from(error);
        return { responses, error: { code: e.code, message: e.rawMessage } };
      } finally {
        clearTimeout(timer);
      }
    },
    close() {},
  };
}

function grpcJsClient(service: DescService, baseUrl: string, headers: Record<string, string>, onHeaders?: (headers: Record<string, string>) => void): RpcClient {
  const method = (methodName: string) => methodOf(service, methodName);
  const protoFile = service.file.proto.name;
  const definition = protoLoader.loadSync(protoFile, {
    includeDirs: [PROTO_ROOT],
    keepCase: false,
    longs: String,
    enums: String,
    defaults: false,
    oneofs: true,
  });
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => (target.startsWith('google/') ? target : path.join(PROTO_ROOT, target));
  root.loadSync(protoFile);
  // protobufjs ships google/protobuf/*.proto internally under these names.
  const loaded = grpc.loadPackageDefinition(definition);
  const Client = service.typeName.split('.').reduce<unknown>((at, part) => (at as Record<string, unknown>)[part], loaded) as grpc.ServiceClientConstructor;
  const target = new URL(baseUrl).host;
  const client = new Client(target, grpc.credentials.createInsecure()) as unknown as Record<
    string,
    (...args: unknown[]) => unknown
  >;

  // Requests are written as proto3 JSON; a backend would build these objects itself. Going
  // through the wire format makes them exactly what protobufjs expects.
  const toGrpcJs = (schema: DescMessage, json: JsonValue) => {
    const type = root.lookupType(schema.typeName);
    return type.toObject(type.decode(toBinary(schema, fromJson(schema, json))), { longs: String, enums: String, oneofs: true });
  };
  const fromGrpcJs = (schema: DescMessage, object: unknown): JsonValue => {
    const type = root.lookupType(schema.typeName);
    return toJson(schema, fromBinary(schema, type.encode(type.fromObject(object as Record<string, unknown>)).finish()));
  };
  // Error details travel as a google.rpc.Status in this trailer, as every gRPC library sends them.
  const failure = (error: grpc.ServiceError): CallResult => {
    const [bin] = error.metadata?.get('grpc-status-details-bin') ?? [];
    const details = bin instanceof Buffer ? fromBinary(StatusSchema, bin).details : [];
    const retry = details.map((detail) => anyUnpack(detail, RetryInfoSchema)).find((info) => info !== undefined);
    return { ok: false as const, code: error.code as number as Code, message: error.details, ...delay(retry?.retryDelay) };
  };
  const metadata = () => {
    const metadata = new grpc.Metadata();
    for (const [name, value] of Object.entries(headers)) metadata.set(name, value);
    return metadata;
  };

  return {
    name: 'grpc-js',
    unary(methodName, request) {
      const m = method(methodName);
      return new Promise((resolve) => {
        const call = client[methodName]!(toGrpcJs(m.input, request), metadata(), (error: grpc.ServiceError | null, response: unknown) => {
          resolve(error ? failure(error) : { ok: true, response: fromGrpcJs(m.output, response) });
        }) as grpc.ClientUnaryCall;
        call.on('metadata', (received: grpc.Metadata) => onHeaders?.(textMetadata(received)));
      });
    },
    stream(methodName, request, options = {}) {
      const m = method(methodName);
      return new Promise((resolve) => {
        const responses: JsonValue[] = [];
        const call = client[methodName]!(toGrpcJs(m.input, request), metadata()) as grpc.ClientReadableStream<unknown>;
        call.on('metadata', (received: grpc.Metadata) => onHeaders?.(textMetadata(received)));
        let settled = false;
        const finish = (error: StreamResult['error']) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          resolve({ responses, error });
        };
        const timer = setTimeout(() => {
          finish(null);
          call.cancel();
        }, options.timeoutMs ?? 10_000);
        call.on('data', (response: unknown) => {
          responses.push(fromGrpcJs(m.output, response));
          options.onResponse?.(responses.at(-1)!);
          if (options.take !== undefined && responses.length >= options.take) {
            finish(null);
            call.cancel();
          }
        });
        // grpc-js emits 'error' as the status arrives, while messages that came before it may
        // still wait in the stream's buffer: they are the stream's too, so they are read first.
        call.on('error', (error: grpc.ServiceError) => {
          const settle = () => (call.readableLength > 0 ? setImmediate(settle) : finish({ code: error.code as number as Code, message: error.details }));
          settle();
        });
        call.on('end', () => finish(null));
      });
    },
    close() {
      (client as unknown as grpc.Client).close();
    },
  };
}

function textMetadata(metadata: grpc.Metadata): Record<string, string> {
  return Object.fromEntries(Object.entries(metadata.getMap()).flatMap(([name, value]) => (typeof value === 'string' ? [[name, value]] : [])));
}

function delay(duration: Duration | undefined): { retryDelayMs?: number } {
  return duration === undefined ? {} : { retryDelayMs: Number(duration.seconds) * 1000 + Math.round(duration.nanos / 1e6) };
}

export { SERVICE };
