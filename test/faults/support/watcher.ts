// A subscriber that follows one conversation across instance deaths the way a backend would:
// grpc-js, a ConversationState from src/client, and on every broken stream a new Subscribe on
// another live instance with after_seq = the last seq applied.
import { create, equals } from '@bufbuild/protobuf';
import { GetConversationResponseSchema, type GetConversationResponse } from '../../../gen/parley/v1/conversation_service_pb.ts';
import { ConversationState, StreamProtocolError } from '../../../src/client/index.ts';
import { grpcSubscriber, type GrpcStream } from '../../support/grpc-subscriber.ts';

export interface WatchReport {
  /** Subscribe calls after the first one. */
  resubscribes: number;
  duplicates: number;
  gaps: number;
  /** Snapshots received on a resume (the server could not continue from after_seq). */
  resets: number;
  protocolErrors: string[];
  events: number;
}

export interface Watcher {
  readonly conversationId: string;
  readonly state: ConversationState;
  readonly report: WatchReport;
  /** Waits until the held state equals `fetch()` (GetConversation), polling up to `timeoutMs`. */
  converge(fetch: () => Promise<GetConversationResponse>, timeoutMs: number): Promise<{ equal: boolean; held: GetConversationResponse; fresh: GetConversationResponse | null }>;
  stop(): Promise<void>;
}

const MAX_SUBSCRIBES = 2_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** `pickUrl` returns the base URL of a live instance, or null when none is up right now. */
export function watchConversation(conversationId: string, pickUrl: () => string | null): Watcher {
  const state = new ConversationState();
  const report: WatchReport = { resubscribes: 0, duplicates: 0, gaps: 0, resets: 0, protocolErrors: [], events: 0 };
  let stopped = false;
  let current: GrpcStream | null = null;
  let subscribes = 0;

  const loop = (async () => {
    while (!stopped && subscribes < MAX_SUBSCRIBES) {
      const url = pickUrl();
      if (!url) {
        await sleep(20);
        continue;
      }
      const resuming = state.seq !== undefined;
      if (subscribes++ > 0) report.resubscribes++;
      const subscriber = grpcSubscriber(url);
      const stream = subscriber.open(conversationId, state.seq);
      current = stream;
      let received = 0;
      try {
        for (;;) {
          const response = await stream.next();
          if (!response || stopped) break;
          received++;
          if (response.event.case === 'snapshot' && resuming && state.seq !== undefined) report.resets++;
          let outcome;
          try {
            outcome = state.apply(response);
          } catch (error) {
            if (!(error instanceof StreamProtocolError)) throw error;
            report.protocolErrors.push(error.message);
            break;
          }
          if (outcome === 'applied') report.events++;
          if (outcome === 'duplicate') report.duplicates++;
          if (outcome === 'gap') {
            report.gaps++;
            break; // nothing applied: resubscribe after the last seq held
          }
        }
      } finally {
        current = null;
        stream.cancel();
        subscriber.close();
      }
      // A stream refused at once (its instance is going, the database is down) is retried more slowly.
      if (!stopped) await sleep(received === 0 ? 100 : 10);
    }
  })();

  return {
    conversationId,
    state,
    report,
    async converge(fetch, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      let fresh: GetConversationResponse | null = null;
      for (;;) {
        const held = state.toGetConversationResponse();
        try {
          fresh = create(GetConversationResponseSchema, await fetch());
          if (equals(GetConversationResponseSchema, held, fresh)) return { equal: true, held, fresh };
        } catch {
          // the instance asked may have just died: ask again
        }
        if (Date.now() > deadline) return { equal: false, held, fresh };
        await sleep(50);
      }
    },
    async stop() {
      stopped = true;
      current?.cancel();
      await loop;
    },
  };
}
