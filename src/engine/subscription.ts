import type { SequencedEvent } from '../domain/events.ts';
import type { EventNotice } from '../store/event-log.ts';

/** Reads stored events; the hub falls back to it whenever a notification cannot be used as is. */
export type ReadEvents = (conversationId: string, afterSeq: number, limit: number) => Promise<SequencedEvent[]>;

export class SubscriberOverflow extends Error {
  readonly limit: number;
  readonly unit: 'events' | 'bytes';
  constructor(limit: number, unit: 'events' | 'bytes' = 'events') {
    super(`the subscriber fell more than ${limit} ${unit} behind`);
    this.name = 'SubscriberOverflow';
    this.limit = limit;
    this.unit = unit;
  }
}

/** How far behind a subscriber may fall, in events and in their size. */
export interface BufferLimits {
  events: number;
  /** Bytes of the events' JSON, about what they take in memory and on the wire. */
  bytes: number;
}

/**
 * The size of an event as its JSON, computed once per event: the same event objects go to every
 * subscriber of the conversation (from the notice, or from a shared read).
 */
const sizes = new WeakMap<SequencedEvent, number>();
function sizeOf(event: SequencedEvent): number {
  let size = sizes.get(event);
  if (size === undefined) {
    size = Buffer.byteLength(JSON.stringify(event.event));
    sizes.set(event, size);
  }
  return size;
}

/** The instance is shutting down: its subscribers continue on another one. */
export class HubShutDown extends Error {
  constructor() {
    super('the server is shutting down');
    this.name = 'HubShutDown';
  }
}

/** The events after what the subscriber holds were pruned: it must start again from a snapshot. */
export class EventsPruned extends Error {
  readonly afterSeq: number;
  constructor(afterSeq: number) {
    super(`the events after seq ${afterSeq} were pruned`);
    this.name = 'EventsPruned';
    this.afterSeq = afterSeq;
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
  readonly #limits: BufferLimits;
  readonly #onClose: () => void;
  #lastSeq: number | null = null;
  #queue: SequencedEvent[] = [];
  /** null: not sized since the queue was last taken. */
  #queuedBytes: number | null = null;
  #reading = false;
  #readAgain = false;
  #failure: Error | null = null;
  /** Ends the subscription once the events already queued have been taken. */
  #ending: Error | null = null;
  #wake: (() => void) | null = null;
  #closed = false;

  constructor(conversationId: string, read: ReadEvents, limits: BufferLimits, onClose: () => void) {
    this.conversationId = conversationId;
    this.#read = read;
    this.#limits = limits;
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
    this.#queuedBytes = null;
    return events;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue = [];
    this.#queuedBytes = null;
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
            // The table itself has a gap after what the subscriber holds: those events were
            // pruned (retention), and reading again would find the same gap for ever.
            if (batch.length > 0 && batch[0]!.seq > this.#lastSeq! + 1) throw new EventsPruned(this.#lastSeq!);
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
    const behind = this.#queue.length > 0;
    this.#queue.push(...fresh);
    if (this.#queue.length > this.#limits.events) {
      this.#fail(new SubscriberOverflow(this.#limits.events));
      return;
    }
    // A subscriber that had taken everything before is not behind, however large these events;
    // and one that keeps up (most) is never sized at all.
    if (behind && this.#bytesQueued(fresh) > this.#limits.bytes) {
      this.#fail(new SubscriberOverflow(this.#limits.bytes, 'bytes'));
      return;
    }
    this.#wake?.();
  }

  /** What waits for the subscriber, in bytes: sized the first time it is behind, then as events arrive. */
  #bytesQueued(fresh: readonly SequencedEvent[]): number {
    const unsized = this.#queuedBytes === null ? this.#queue : fresh;
    let bytes = this.#queuedBytes ?? 0;
    for (const event of unsized) bytes += sizeOf(event);
    this.#queuedBytes = bytes;
    return bytes;
  }

  #fail(error: Error): void {
    this.#failure ??= error;
    this.#queue = [];
    this.#queuedBytes = null;
    this.#wake?.();
  }
}
