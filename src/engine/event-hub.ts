import type { Logger } from '../logger.ts';
import { reviveEvent, type SequencedEvent } from '../domain/events.ts';
import { EVENTS_CHANNEL } from '../store/channels.ts';
import type { EventNotice } from '../store/event-log.ts';
import type { Notifications } from '../store/notifications.ts';
import { HubShutDown, Subscription, type BufferLimits, type ReadEvents } from './subscription.ts';

export { ConversationDeleted, EventsPruned, HubShutDown, SubscriberOverflow, Subscription, type ReadEvents } from './subscription.ts';

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

/**
 * Fans a conversation's events out to this instance's subscribers. One per instance, made in
 * the composition root; every instance hears every conversation's notices through one LISTEN
 * connection, so it does not matter which instance runs a prompt.
 */
export interface EventHubOptions {
  /** Events, and bytes of them, a subscriber may fall behind by before its subscription fails. */
  bufferLimits: BufferLimits;
  /** Subscriptions one conversation may hold on this instance. */
  maxSubscribersPerConversation: number;
  /** Subscriptions this instance holds at most, over every conversation: memory stays bounded. */
  maxSubscribers: number;
  /** Subscriptions one principal (a tenant, or one subject of it) may hold on this instance. */
  maxSubscribersPerPrincipal: number;
  /** Hears, per notice for a conversation followed here, how long after storing it arrived. */
  onDeliveryLag?: (seconds: number) => void;
}

export class EventHub {
  readonly #read: ReadEvents;
  readonly #limits: BufferLimits;
  readonly #maxPerConversation: number;
  readonly #max: number;
  readonly #maxPerPrincipal: number;
  #count = 0;
  readonly #subscribers = new Map<string, Set<Subscription>>();
  /** Reads under way, shared by every subscriber that asks for the same events (see #sharedRead). */
  readonly #reads = new Map<string, Promise<SequencedEvent[]>>();
  /** Per conversation, how many notices this instance has heard for it (plus reconnects). */
  readonly #heard = new Map<string, number>();
  #reconnects = 0;
  /** Open subscriptions per principal key (only principals that have some). */
  readonly #byPrincipal = new Map<string, number>();
  readonly #unsubscribe: Array<() => void>;
  #shutDown = false;

  constructor(notifications: Notifications, read: ReadEvents, options: EventHubOptions, logger: Logger) {
    this.#read = (conversationId, afterSeq, limit) => this.#sharedRead(read, conversationId, afterSeq, limit);
    this.#limits = options.bufferLimits;
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
        this.#heard.set(notice.conversationId, (this.#heard.get(notice.conversationId) ?? 0) + 1);
        if (notice.at !== undefined) options.onDeliveryLag?.((Date.now() - notice.at) / 1000);
        // Revived once for every subscriber: the same objects go to each, so what is made from
        // them downstream (the protobuf response) can be made once too.
        const events = notice.events?.map((event, i) => ({ conversationId: notice.conversationId, seq: notice.from + i, event: reviveEvent(event) })) ?? null;
        for (const subscription of subscriptions) subscription.notify(notice, events);
      }),
      notifications.onReconnect(() => {
        this.#reconnects++;
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
    const subscription = new Subscription(conversationId, this.#read, this.#limits, () => {
      if (!set.delete(subscription)) return;
      this.#count--;
      const held = this.subscribersFor(principal) - 1;
      if (held > 0) this.#byPrincipal.set(principal, held);
      else this.#byPrincipal.delete(principal);
      if (set.size === 0) {
        this.#subscribers.delete(conversationId);
        this.#heard.delete(conversationId);
      }
    });
    set.add(subscription);
    this.#count++;
    this.#byPrincipal.set(principal, this.subscribersFor(principal) + 1);
    return subscription;
  }

  /**
   * One read of the event table for every subscriber that wants the same events at once: a
   * notice too large to carry its events sends each subscriber of the conversation to the table,
   * and a thousand subscribers made a thousand reads of one event. A read is shared only among
   * callers that asked after the same latest notice: one begun before a notice arrived may miss
   * that notice's events, so a caller woken by the notice starts a read of its own.
   */
  #sharedRead(read: ReadEvents, conversationId: string, afterSeq: number, limit: number): Promise<SequencedEvent[]> {
    const key = `${conversationId}:${afterSeq}:${limit}:${this.#heard.get(conversationId) ?? 0}:${this.#reconnects}`;
    const pending = this.#reads.get(key);
    if (pending) return pending;
    // Removed before any caller resumes, so that a caller reading again starts a new read.
    const started = read(conversationId, afterSeq, limit).finally(() => this.#reads.delete(key));
    this.#reads.set(key, started);
    return started;
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
