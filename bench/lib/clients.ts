/**
 * Clients the load generator uses: Parley's unary RPCs over connect-node's gRPC transport, and
 * Subscribe streams over @grpc/grpc-js (as a backend in another codebase would subscribe) with
 * protobuf-es doing the (de)serialisation, the pattern of test/support/grpc-subscriber.ts.
 */
import { randomUUID } from 'node:crypto';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { createClient, type Client, type Interceptor } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import * as grpc from '@grpc/grpc-js';
import {
  ConversationService,
  SubscribeRequestSchema,
  SubscribeResponseSchema,
  type SubscribeRequest,
  type SubscribeResponse,
} from '../../gen/parley/v1/conversation_service_pb.ts';
import { now } from './clock.ts';

export type ParleyClient = Client<typeof ConversationService>;

/** `authorization`: sent on every call (`Bearer <key>`), when the instance is not open. */
export function parleyClient(port: number, authorization?: string): ParleyClient {
  const interceptors: Interceptor[] = authorization === undefined ? [] : [(next) => (request) => (request.header.set('authorization', authorization), next(request))];
  return createClient(ConversationService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}`, interceptors }));
}

export async function createConversation(client: ParleyClient, title = 'bench'): Promise<string> {
  const response = await client.createConversation({ title });
  return response.conversation!.id;
}

export async function sendMessage(client: ParleyClient, conversationId: string, text: string): Promise<string> {
  const response = await client.sendMessage({ conversationId, text, requestId: randomUUID() });
  return response.message!.id;
}

export type OnResponse = (response: SubscribeResponse, receivedAt: number) => void;

export interface Stream {
  cancel(): void;
  /** Settles when the stream ends: null for a clean end or a cancel by us, else the error. */
  readonly ended: Promise<grpc.ServiceError | null>;
}

/**
 * grpc-js channels for many Subscribe streams: `streamsPerChannel` streams share one HTTP/2
 * connection (each channel gets its own connection: grpc-js would otherwise share one
 * connection among all clients with the same target and options).
 */
export class SubscriberPool {
  readonly #target: string;
  readonly #streamsPerChannel: number;
  readonly #metadata: grpc.Metadata | undefined;
  readonly #channels: grpc.Client[] = [];
  #opened = 0;

  constructor(port: number, streamsPerChannel = 100, authorization?: string) {
    this.#target = `127.0.0.1:${port}`;
    this.#streamsPerChannel = streamsPerChannel;
    if (authorization !== undefined) {
      this.#metadata = new grpc.Metadata();
      this.#metadata.set('authorization', authorization);
    }
  }

  open(conversationId: string, onResponse: OnResponse): Stream {
    const index = Math.floor(this.#opened / this.#streamsPerChannel);
    this.#opened += 1;
    let client = this.#channels[index];
    if (!client) {
      client = new grpc.Client(this.#target, grpc.credentials.createInsecure(), {
        'grpc.use_local_subchannel_pool': 1,
        'grpc.max_receive_message_length': 64 * 1024 * 1024,
      });
      this.#channels[index] = client;
    }
    return subscribeCall(client, '/parley.v1.ConversationService/Subscribe', create(SubscribeRequestSchema, { conversationId }), onResponse, this.#metadata);
  }

  close(): void {
    for (const client of this.#channels) client.close();
    this.#channels.length = 0;
  }
}

export function subscribeCall(client: grpc.Client, method: string, request: SubscribeRequest, onResponse: OnResponse, metadata?: grpc.Metadata): Stream {
  const call = client.makeServerStreamRequest<SubscribeRequest, SubscribeResponse>(
    method,
    (value) => Buffer.from(toBinary(SubscribeRequestSchema, value)),
    (bytes) => fromBinary(SubscribeResponseSchema, bytes),
    request,
    metadata ?? new grpc.Metadata(),
  );
  let cancelled = false;
  const ended = new Promise<grpc.ServiceError | null>((resolve) => {
    call.on('data', (response: SubscribeResponse) => onResponse(response, now()));
    call.on('error', (error: grpc.ServiceError) => resolve(cancelled && error.code === grpc.status.CANCELLED ? null : error));
    call.on('end', () => resolve(null));
  });
  return {
    ended,
    cancel: () => {
      cancelled = true;
      call.cancel();
    },
  };
}

/** Text carried by a BlockDelta event, or null for any other event. */
export function deltaText(response: SubscribeResponse): string | null {
  if (response.event.case !== 'blockDelta') return null;
  const delta = response.event.value.delta;
  return delta.case === 'text' ? delta.value : null;
}

/** Runs `task` over `items` with at most `limit` at a time. */
export async function inBatches<T, R>(items: readonly T[], limit: number, task: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index]!, index);
    }
  });
  await Promise.all(workers);
  return results;
}
