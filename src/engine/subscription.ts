import type { SequencedEvent } from '../domain/events.ts';
import type { EventNotice } from '../store/event-log.ts';

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
