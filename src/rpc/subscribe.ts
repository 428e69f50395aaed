import { Code, ConnectError, type HandlerContext } from '@connectrpc/connect';
import type { SubscribeRequest, SubscribeResponse } from '../../gen/parley/v1/conversation_service_pb.ts';
import type { SequencedEvent } from '../domain/events.ts';
import type { ConversationEngine } from '../engine/conversation-engine.ts';
import { toConnectError } from './errors.ts';
import { heartbeatResponse, snapshotResponse } from './event-convert.ts';
import { ownerOf } from './owner.ts';
import { requireId } from './validate.ts';

export interface SubscribeDeps {
  engine: ConversationEngine;
  heartbeatMs: number;
  /** Shared by every stream of the service (see eventResponses). */
  eventResponse: (event: SequencedEvent) => SubscribeResponse;
}

/** The engine's subscription as SubscribeResponses. */
export async function* subscribe(deps: SubscribeDeps, request: SubscribeRequest, context: HandlerContext): AsyncGenerator<SubscribeResponse> {
  const conversationId = requireId('conversation_id', request.conversationId);
  const items = deps.engine.subscribe({
    owner: ownerOf(context),
    conversationId,
    afterSeq: request.afterSeq === undefined ? null : Number(request.afterSeq),
    heartbeatMs: deps.heartbeatMs,
    signal: context.signal,
  });
  try {
    for await (const item of items) {
      switch (item.type) {
        case 'snapshot':
          yield snapshotResponse(item.snapshot, item.reset);
          break;
        case 'events':
          for (const event of item.events) yield deps.eventResponse(event);
          break;
        case 'heartbeat':
          yield heartbeatResponse(item.seq);
          break;
      }
    }
  } catch (error) {
    throw toConnectError(error);
  }
  // The caller's own deadline (grpc-timeout, connect-timeout-ms) ends the stream with
  // deadline_exceeded; a caller that went away needs no answer.
  const reason: unknown = context.signal.reason;
  if (context.signal.aborted && reason instanceof ConnectError && reason.code === Code.DeadlineExceeded) throw reason;
}
