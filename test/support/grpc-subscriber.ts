// A Subscribe stream over @grpc/grpc-js, the way a backend in another codebase subscribes, with
// protobuf-es doing the (de)serialisation so responses arrive as generated types.
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import {
  SubscribeRequestSchema,
  SubscribeResponseSchema,
  type SubscribeResponse,
} from '../../gen/parley/v1/conversation_service_pb.ts';

export interface GrpcSubscriber {
  client: grpc.Client;
  open(conversationId: string, afterSeq?: bigint): GrpcStream;
  close(): void;
}

export interface GrpcStream {
  /** Resolves with the next response, or null when the stream ended (see `error`). */
  next(): Promise<SubscribeResponse | null>;
  cancel(): void;
  pause(): void;
  resume(): void;
  readonly error: grpc.ServiceError | null;
}

export function grpcSubscriber(baseUrl: string): GrpcSubscriber {
  const client = new grpc.Client(new URL(baseUrl).host, grpc.credentials.createInsecure());
  return {
    client,
    open(conversationId, afterSeq) {
      const call = client.makeServerStreamRequest<ReturnType<typeof create<typeof SubscribeRequestSchema>>, SubscribeResponse>(
        '/parley.v1.ConversationService/Subscribe',
        (request) => Buffer.from(toBinary(SubscribeRequestSchema, request)),
        (bytes) => fromBinary(SubscribeResponseSchema, bytes),
        create(SubscribeRequestSchema, { conversationId, ...(afterSeq === undefined ? {} : { afterSeq }) }),
      );
      const buffered: SubscribeResponse[] = [];
      const waiting: Array<(value: SubscribeResponse | null) => void> = [];
      let ended = false;
      let error: grpc.ServiceError | null = null;
      const end = () => {
        ended = true;
        for (const resolve of waiting.splice(0)) resolve(null);
      };
      call.on('data', (response: SubscribeResponse) => {
        const resolve = waiting.shift();
        if (resolve) resolve(response);
        else buffered.push(response);
      });
      call.on('error', (e: grpc.ServiceError) => {
        error = e;
        end();
      });
      call.on('end', end);
      return {
        next: () => {
          const response = buffered.shift();
          if (response) return Promise.resolve(response);
          if (ended) return Promise.resolve(null);
          return new Promise((resolve) => waiting.push(resolve));
        },
        cancel: () => call.cancel(),
        pause: () => call.pause(),
        resume: () => call.resume(),
        get error() {
          return error;
        },
      };
    },
    close: () => client.close(),
  };
}

/** A small seeded PRNG (mulberry32), so a failing run can be replayed from its seed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
