import type { Logger } from '../logger.ts';
import { reviveEvent, type SequencedEvent } from '../domain/events.ts';
import { EVENTS_CHANNEL } from '../store/channels.ts';
import type { EventNotice } from '../store/event-log.ts';
import type { Notifications } from '../store/notifications.ts';

/** Reads stored events; the hub falls back to it whenever a notification cannot be used as is. */
export type ReadEvents = (conversationId: string, afterSeq: number, limit: number) => Promise<SequencedEvent[]>;

export class SubscriberOverflow extends Error {
  readonly limit: number;
  constructor(limit: number) {
    super(`the subscriber fell more than ${limit} events behind`);
    this.name = 'SubscriberOverflow';
    this.limit = limit;
  }
}

/** The conversation, or the whole instance, already has as many subscriptions here as it may. */
export class SubscriberLimitReached extends Error {
  readonly limit: number;
  readonly scope: 'conversation' | 'principal' | 'instance';
  constructor(scope: 'conversation' | 'principal' | 'instance', limit: number) {
    super(`the ${scope} already has ${limit} open subscriptions on this instance, the most it may have`);
    this.name = 'SubscriberLimitReached';
    this.limit = limit;
    this.scope = scope;
  }
}

/** The instance is shutting down: its subscribers continue on another one. */
export class HubShutDown extends Error {
  constructor() {
    super('the server is shutting down');
    this.name = 'HubShutDown';
  }
}

export class ConversationDeleted extends Error {
  constructor() {
    super('the conversation was deleted');
    this.name = 'ConversationDeleted';
  }
}

const READ_BATCH = 1_000;

/**
 * One subscriber's view of a conversation's events: exactly the events after `startAfter(seq)`,
 * in order, each once. Notifications are a hint with the events attached when they fit; any
 * doubt (a gap, a notice without events, a reconnect) is settled by reading the event table
 * after the last seq delivered, so no path can skip or repeat an event.
 */
export class Subscription {
  readonly conversationId: string;
  readonly #read: ReadEvents;
  readonly #limit: number;
  readonly #onClose: () => void;
  #lastSeq: number | null = null;
  #queue: SequencedEvent[] = [];
  #reading = false;
  #readAgain = false;
  #failure: Error | null = null;
  /** Ends the subscription once the events already queued have been taken. */
  #ending: Error | null = null;
  #wake: (() => void) | null = null;
  #closed = false;

  constructor(conversationId: string, read: ReadEvents, limit: number, onClose: () => void) {
    this.conversationId = conversationId;
    this.#read = read;
    this.#limit = limit;
    this.#onClose = onClose;
  }

  /** Start delivering the events after `seq` (what the subscriber already has). */
  startAfter(seq: number): void {
    this.#lastSeq = seq;
    this.#catchUp();
  }

  /** The next events, or null on timeout (for heartbeats) or when `signal` aborts. */
  async next(timeoutMs: number, signal: AbortSignal): Promise<SequencedEvent[] | null> {
    if (this.#failure) throw this.#failure;
    if (this.#endsNow()) throw this.#ending!;
    if (this.#queue.length === 0 && !signal.aborted) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, timeoutMs);
        signal.addEventListener('abort', done, { once: true });
        this.#wake = done;
        function done() {
          clearTimeout(timer);
          signal.removeEventListener('abort', done);
          resolve();
        }
      });
      this.#wake = null;
    }
    if (this.#failure) throw this.#failure;
    if (this.#endsNow()) throw this.#ending!;
    if (this.#queue.length === 0) return null;
    const events = this.#queue;
    this.#queue = [];
    return events;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue = [];
    this.#onClose();
    this.#wake?.();
  }

  /** @internal from the hub: deliver what is queued, then end with `error`. */
  end(error: Error): void {
    this.#ending ??= error;
    // Events stored just before (the last prompts' final writes) may not have been notified yet.
    // The read wakes the subscriber when it is done.
    if (this.#lastSeq !== null && !this.#closed) this.#catchUp();
    else this.#wake?.();
  }

  #endsNow(): boolean {
    return this.#ending !== null && this.#queue.length === 0 && !this.#reading;
  }

  /** @internal from the hub */
  notify(notice: EventNotice, events: readonly SequencedEvent[] | null): void {
    if (this.#closed) return;
    if (notice.deleted) return this.#fail(new ConversationDeleted());
    if (this.#lastSeq === null || this.#reading) {
      // Not started, or a read is under way that may or may not include these: read again after.
      if (this.#reading) this.#readAgain = true;
      return;
    }
    if (notice.to <= this.#lastSeq) return;
    if (events && notice.from === this.#lastSeq + 1) {
      this.#deliver(events);
      return;
    }
    this.#catchUp();
  }

  /** @internal from the hub: notifications may have been lost. */
  resync(): void {
    if (this.#lastSeq !== null && !this.#closed) this.#catchUp();
  }

  #catchUp(): void {
    if (this.#reading) {
      this.#readAgain = true;
      return;
    }
    this.#reading = true;
    void (async () => {
      try {
        do {
          this.#readAgain = false;
          for (;;) {
            const batch = await this.#read(this.conversationId, this.#lastSeq!, READ_BATCH);
            if (this.#closed) return;
            this.#deliver(batch);
            if (batch.length < READ_BATCH) break;
          }
        } while (this.#readAgain && !this.#closed);
      } catch (error) {
        this.#fail(error instanceof Error ? error : new Error(String(error)));
      } finally {
        this.#reading = false;
        if (this.#ending) this.#wake?.();
      }
    })();
  }

  #deliver(events: readonly SequencedEvent[]): void {
    const fresh = events.filter((e) => e.seq > this.#lastSeq!);
    if (fresh.length === 0) return;
    if (fresh[0]!.seq !== this.#lastSeq! + 1) {
      // Never deliver across a gap: read what is missing instead.
      this.#catchUp();
      return;
    }
    this.#lastSeq = fresh.at(-1)!.seq;
    this.#queue.push(...fresh);
    if (this.#queue.length > this.#limit) {
      this.#fail(new SubscriberOverflow(this.#limit));
      return;
    }
    this.#wake?.();
  }

  #fail(error: Error): void {
    this.#failure ??= error;
    this.#queue = [];
    this.#wake?.();
  }
}

/**
 * Fans a conversation's events out to this instance's subscribers. One per instance, made in
 * the composition root; every instance hears every conversation's notices through one LISTEN
 * connection, so it does not matter which instance runs a prompt.
 */
export interface EventHubOptions {
  /** Events a subscriber may fall behind by before its subscription fails. */
  bufferLimit: number;
  /** Subscriptions one conversation may hold on this instance. */
  maxSubscribersPerConversation: number;
  /** Subscriptions this instance holds at most, over every conversation: memory stays bounded. */
  maxSubscribers: number;
  /** Subscriptions one principal (a tenant, or one subject of it) may hold on this instance. */
  maxSubscribersPerPrincipal: number;
}

export class EventHub {
  readonly #read: ReadEvents;
  readonly #limit: number;
  readonly #maxPerConversation: number;
  readonly #max: number;
  readonly #maxPerPrincipal: number;
  #count = 0;
  readonly #subscribers = new Map<string, Set<Subscription>>();
  /** Open subscriptions per principal key (only principals that have some). */
  readonly #byPrincipal = new Map<string, number>();
  readonly #unsubscribe: Array<() => void>;
  #shutDown = false;

  constructor(notifications: Notifications, read: ReadEvents, options: EventHubOptions, logger: Logger) {
    this.#read = read;
    this.#limit = options.bufferLimit;
    this.#maxPerConversation = options.maxSubscribersPerConversation;
    this.#max = options.maxSubscribers;
    this.#maxPerPrincipal = options.maxSubscribersPerPrincipal;
    this.#unsubscribe = [
      notifications.on(EVENTS_CHANNEL, (payload) => {
        let notice: EventNotice;
        try {
          notice = JSON.parse(payload) as EventNotice;
        } catch (error) {
          logger.warn('ignoring a malformed event notice', { error });
          return;
        }
        const subscriptions = this.#subscribers.get(notice.conversationId);
        if (!subscriptions) return;
        // Revived once for every subscriber: the same objects go to each, so what is made from
        // them downstream (the protobuf response) can be made once too.
        const events = notice.events?.map((event, i) => ({ conversationId: notice.conversationId, seq: notice.from + i, event: reviveEvent(event) })) ?? null;
        for (const subscription of subscriptions) subscription.notify(notice, events);
      }),
      notifications.onReconnect(() => {
        for (const set of this.#subscribers.values()) for (const subscription of set) subscription.resync();
      }),
    ];
  }

  /** Subscriptions open on this instance (all conversations). */
  get subscriberCount(): number {
    return this.#count;
  }

  /** Subscriptions open on this instance for one conversation. */
  subscribersOf(conversationId: string): number {
    return this.#subscribers.get(conversationId)?.size ?? 0;
  }

  /** Subscriptions open on this instance for one principal (see subscribe). */
  subscribersFor(principal: string): number {
    return this.#byPrincipal.get(principal) ?? 0;
  }

  /**
   * Throws SubscriberLimitReached, having opened nothing, when the conversation, the principal
   * (`principal`: a key naming the tenant, or the tenant and subject, the stream acts for) or
   * the instance is at its limit. The slot is freed by the subscription's close().
   */
  subscribe(conversationId: string, principal: string): Subscription {
    if (this.#shutDown) throw new HubShutDown();
    if (this.#count >= this.#max) throw new SubscriberLimitReached('instance', this.#max);
    if (this.subscribersFor(principal) >= this.#maxPerPrincipal) throw new SubscriberLimitReached('principal', this.#maxPerPrincipal);
    if (this.subscribersOf(conversationId) >= this.#maxPerConversation) throw new SubscriberLimitReached('conversation', this.#maxPerConversation);
    const set = this.#subscribers.get(conversationId) ?? new Set<Subscription>();
    this.#subscribers.set(conversationId, set);
    const subscription = new Subscription(conversationId, this.#read, this.#limit, () => {
      if (!set.delete(subscription)) return;
      this.#count--;
      const held = this.subscribersFor(principal) - 1;
      if (held > 0) this.#byPrincipal.set(principal, held);
      else this.#byPrincipal.delete(principal);
      if (set.size === 0) this.#subscribers.delete(conversationId);
    });
    set.add(subscription);
    this.#count++;
    this.#byPrincipal.set(principal, this.subscribersFor(principal) + 1);
    return subscription;
  }

  /**
   * Ends every subscription with HubShutDown once its queued events are delivered, and refuses
   * new ones: streams end with a status instead of a cut connection.
   */
  shutDown(): void {
    this.#shutDown = true;
    for (const set of this.#subscribers.values()) for (const subscription of set) subscription.end(new HubShutDown());
  }

  close(): void {
    for (const unsubscribe of this.#unsubscribe) unsubscribe();
    for (const set of [...this.#subscribers.values()]) for (const subscription of [...set]) subscription.close();
  }
}
