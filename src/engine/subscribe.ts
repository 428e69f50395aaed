import type { SequencedEvent } from '../domain/events.ts';
import type { ConversationSnapshot, Owner } from '../domain/records.ts';
import { requestErrors } from '../domain/request-errors.ts';
import type { SnapshotStore } from '../store/snapshot-store.ts';
import { ConversationDeleted, EventsPruned, HubShutDown, SubscriberLimitReached, SubscriberOverflow, type EventHub, type Subscription } from './event-hub.ts';

/** What a subscription delivers, in order: a snapshot (unless resumed), then events and heartbeats. */
export type SubscriptionItem =
  /** `reset`: the caller asked to resume, but the events it missed are gone: this replaces its state. */
  | { type: 'snapshot'; snapshot: ConversationSnapshot; reset: boolean }
  | { type: 'events'; events: SequencedEvent[] }
  /** Nothing happened for a heartbeat interval; `seq` is the last seq delivered. */
  | { type: 'heartbeat'; seq: number };

export interface SubscribeRequest {
  owner: Owner;
  conversationId: string;
  /** Resume after this seq (what the caller already has); null for a snapshot first. */
  afterSeq: number | null;
  heartbeatMs: number;
  /** Ends the subscription (without an error) when aborted. */
  signal: AbortSignal;
}

/**
 * A snapshot (or, when resuming, the events missed), then every event as it happens. The hub
 * subscription is opened before the snapshot is read, so nothing that happens in between is
 * lost; events the snapshot already reflects are skipped by seq. Fails with RequestError.
 */
export async function* subscribe(hub: EventHub, snapshots: SnapshotStore, request: SubscribeRequest): AsyncGenerator<SubscriptionItem> {
  const { owner, conversationId, afterSeq, signal } = request;
  const subscription = open(hub, conversationId, owner);
  try {
    let seq: number;
    const resumable = afterSeq === null ? null : await snapshots.resumePoint(owner, conversationId, afterSeq);
    if (afterSeq !== null && resumable !== null) {
      seq = afterSeq;
    } else {
      const snapshot = await snapshots.snapshot(owner, conversationId);
      if (!snapshot) throw requestErrors.conversationNotFound(conversationId);
      seq = snapshot.seq;
      yield { type: 'snapshot', snapshot, reset: afterSeq !== null };
    }
    subscription.startAfter(seq);
    for (;;) {
      const events = await subscription.next(request.heartbeatMs, signal);
      if (signal.aborted) return;
      if (events === null) {
        yield { type: 'heartbeat', seq };
        continue;
      }
      seq = events.at(-1)!.seq;
      yield { type: 'events', events };
    }
  } catch (error) {
    if (error instanceof SubscriberOverflow) throw requestErrors.subscriberOverflow(error.limit, error.unit);
    if (error instanceof ConversationDeleted) throw requestErrors.conversationDeleted(conversationId);
    if (error instanceof EventsPruned) throw requestErrors.eventsPruned(error.afterSeq);
    if (error instanceof HubShutDown) throw requestErrors.shuttingDown();
    throw error;
  } finally {
    subscription.close();
  }
}

function open(hub: EventHub, conversationId: string, owner: Owner): Subscription {
  try {
    return hub.subscribe(conversationId, principalKey(owner));
  } catch (error) {
    if (error instanceof SubscriberLimitReached) throw requestErrors.subscriberLimit(holderOf(error.scope, conversationId), error.limit);
    if (error instanceof HubShutDown) throw requestErrors.shuttingDown();
    throw error;
  }
}

/** A tenant and a subject of it are separate principals: one user's streams leave room for the others'. */
function principalKey(owner: Owner): string {
  return owner.subjectId === null ? owner.tenantId : `${owner.tenantId}\u0000${owner.subjectId}`;
}

function holderOf(scope: SubscriberLimitReached['scope'], conversationId: string): string {
  switch (scope) {
    case 'conversation':
      return `conversation ${conversationId}`;
    case 'principal':
      return 'this caller';
    case 'instance':
      return 'this instance';
  }
}
