import { Code, ConnectError, type HandlerContext } from '@connectrpc/connect';
import type { SubscribeRequest, SubscribeResponse } from '../../gen/parley/v1/conversation_service_pb.ts';
import { ConversationDeleted, HubShutDown, SubscriberLimitReached, SubscriberOverflow, type EventHub, type Subscription } from '../engine/event-hub.ts';
import type { ConversationStore } from '../store/conversation-store.ts';
import type { SequencedEvent } from '../store/events.ts';
import { heartbeatResponse, snapshotResponse } from './event-convert.ts';
import { ownerOf } from './owner.ts';
import { requireId } from './validate.ts';

export interface SubscribeDeps {
  conversations: ConversationStore;
  hub: EventHub;
  heartbeatMs: number;
  /** Shared by every stream of the service (see eventResponses). */
  eventResponse: (event: SequencedEvent) => SubscribeResponse;
}

/**
 * A snapshot (or, when resuming, the events missed), then every event as it happens. The hub
 * subscription is opened before the snapshot is read, so nothing that happens in between is
 * lost; events the snapshot already reflects are skipped by seq.
 */
export async function* subscribe(deps: SubscribeDeps, request: SubscribeRequest, context: HandlerContext): AsyncGenerator<SubscribeResponse> {
  const conversationId = requireId('conversation_id', request.conversationId);
  const owner = ownerOf(context);
  const subscription = openSubscription(deps.hub, conversationId);
  try {
    let seq: number;
    const afterSeq = request.afterSeq === undefined ? null : Number(request.afterSeq);
    const resumable = afterSeq === null ? null : await deps.conversations.resumePoint(owner, conversationId, afterSeq);
    if (afterSeq !== null && resumable !== null) {
      seq = afterSeq;
    } else {
      const snapshot = await deps.conversations.snapshot(owner, conversationId);
      if (!snapshot) throw new ConnectError(`conversation ${conversationId} not found`, Code.NotFound);
      seq = snapshot.seq;
      yield snapshotResponse(snapshot, afterSeq !== null);
    }
    subscription.startAfter(seq);
    for (;;) {
      const events = await subscription.next(deps.heartbeatMs, context.signal);
      if (context.signal.aborted) {
        // The caller's own deadline (grpc-timeout, connect-timeout-ms) ends the stream with
        // deadline_exceeded; a caller that went away needs no answer.
        const reason: unknown = context.signal.reason;
        if (reason instanceof ConnectError && reason.code === Code.DeadlineExceeded) throw reason;
        return;
      }
      if (events === null) {
        yield heartbeatResponse(seq);
        continue;
      }
      for (const event of events) {
        seq = event.seq;
        yield deps.eventResponse(event);
      }
    }
  } catch (error) {
    if (error instanceof SubscriberOverflow) {
      throw new ConnectError(`${error.message}; resubscribe with after_seq to continue`, Code.ResourceExhausted);
    }
    if (error instanceof ConversationDeleted) throw new ConnectError(`conversation ${conversationId} was deleted`, Code.NotFound);
    if (error instanceof HubShutDown) throw shuttingDown();
    throw error;
  } finally {
    subscription.close();
  }
}

function openSubscription(hub: EventHub, conversationId: string): Subscription {
  try {
    return hub.subscribe(conversationId);
  } catch (error) {
    if (error instanceof SubscriberLimitReached) {
      throw new ConnectError(`${error.message}; close one, or retry later`, Code.ResourceExhausted);
    }
    if (error instanceof HubShutDown) throw shuttingDown();
    throw error;
  }
}

/** Unavailable: the code clients and proxies already retry. No `;` or `:`, which grpc-js would show percent-encoded. */
function shuttingDown(): ConnectError {
  return new ConnectError('the server is shutting down. Subscribe again with after_seq to continue', Code.Unavailable);
}
