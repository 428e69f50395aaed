// An in-memory stand-in for ConversationService.subscribe: it serves a timeline the way the
// protocol says a server does (snapshot first, or the events after after_seq, or a reset snapshot
// when after_seq is too old), and each call follows a script that says where it breaks.
import { create } from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import {
  SubscribeRequestSchema,
  type SubscribeResponse,
} from '../../../gen/parley/v1/conversation_service_pb.ts';
import type { SubscribeClient } from '../../../src/client/index.ts';
import { snapshotAt, type Timeline } from './timeline.ts';

/**
 * How a call ends once its responses are sent: an error code, a clean end, a live stream with
 * nothing more to say (until cancelled), or one that ignores cancellation altogether.
 */
export type Ending = Code | 'end' | 'hang' | 'deaf';

export interface CallScript {
  /** Rewrites what a faithful server would send (to skip, repeat or corrupt events). */
  readonly respond?: (faithful: SubscribeResponse[]) => SubscribeResponse[];
  /** Responses sent before the ending; default all. */
  readonly stopAfter?: number;
  /** Default 'hang'. */
  readonly then?: Ending;
}

export interface RecordedCall {
  readonly afterSeq: bigint | undefined;
  readonly signal: AbortSignal | undefined;
  sent: number;
}

export interface FakeServerOptions {
  /** The oldest after_seq the server can still resume from; older ones get a reset snapshot. */
  readonly oldestResumable?: number;
  /** The seq of the snapshot sent for a reset; default oldestResumable. */
  readonly resetAt?: number;
}

export interface FakeServer {
  readonly client: SubscribeClient;
  readonly calls: RecordedCall[];
}

export function fakeServer(timeline: Timeline, scripts: CallScript[], options: FakeServerOptions = {}): FakeServer {
  const calls: RecordedCall[] = [];
  const oldest = options.oldestResumable ?? 0;
  const eventsAfter = (seq: number) => timeline.events.slice(seq);

  function faithful(afterSeq: bigint | undefined): SubscribeResponse[] {
    if (afterSeq === undefined) return [snapshotAt(timeline, 0), ...eventsAfter(0)];
    const after = Number(afterSeq);
    if (after < oldest || after > timeline.events.length) {
      const at = options.resetAt ?? oldest;
      return [snapshotAt(timeline, at, true), ...eventsAfter(at)];
    }
    return eventsAfter(after);
  }

  const subscribe: SubscribeClient['subscribe'] = (request, callOptions) => {
    const { afterSeq } = create(SubscribeRequestSchema, request);
    const signal = callOptions?.signal;
    const script = scripts[calls.length] ?? {};
    const record: RecordedCall = { afterSeq, signal, sent: 0 };
    calls.push(record);
    let responses = faithful(afterSeq);
    if (script.respond) responses = script.respond(responses);
    responses = responses.slice(0, script.stopAfter ?? responses.length);
    return stream(responses, script.then ?? 'hang', signal, record);
  };

  return { client: { subscribe }, calls };
}

async function* stream(
  responses: SubscribeResponse[],
  ending: Ending,
  signal: AbortSignal | undefined,
  record: RecordedCall,
): AsyncGenerator<SubscribeResponse> {
  for (const response of responses) {
    // One macrotask per response, as a network would: consumers must cope with interleaving.
    await new Promise((resolve) => setTimeout(resolve, 0));
    if (signal?.aborted) throw new ConnectError('the operation was aborted', Code.Canceled);
    record.sent++;
    yield response;
  }
  await new Promise((resolve) => setTimeout(resolve, 0));
  if (ending === 'end') return;
  if (typeof ending === 'number') throw new ConnectError(`injected ${Code[ending]}`, ending);
  await new Promise<never>((_, reject) => {
    if (ending === 'deaf') return;
    const cancelled = () => reject(new ConnectError('the operation was aborted', Code.Canceled));
    if (signal?.aborted) cancelled();
    signal?.addEventListener('abort', cancelled, { once: true });
  });
}
