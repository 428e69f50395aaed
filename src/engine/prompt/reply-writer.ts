import type { BlockDelta, ConversationEvent } from '../../domain/events.ts';
import type { BlockContent, Claim, MessageRecord, ModelRequestUsage } from '../../domain/records.ts';
import type { BlockWrite, ReplyStore } from '../../store/reply-store.ts';
import { PromptStopped } from './prompt-stopped.ts';

/** A reply would hold more blocks than PARLEY_MAX_BLOCKS_PER_MESSAGE allows. */
export class ReplyTooLong extends Error {
  readonly maxBlocks: number;
  constructor(maxBlocks: number) {
    super(`the reply would hold more than ${maxBlocks} blocks`);
    this.name = 'ReplyTooLong';
    this.maxBlocks = maxBlocks;
  }
}

export interface ReplyWriterOptions {
  /** How long deltas gather before one write carries them. */
  flushMs: number;
  /** Blocks the reply may hold, counting every tool round's. */
  maxBlocks: number;
  /** A write was refused because the claim no longer held (the first such write only). */
  onFenced?: () => void;
}

interface PendingDelta {
  position: number;
  delta: BlockDelta;
}

/**
 * The reply of a running prompt as it is written. It owns the reply's block positions and the
 * block limit; it coalesces deltas into one write per flush interval and writes in order through
 * one chain. Every write stores the change and its events together, fenced by the claim; the
 * number of writes depends on blocks and elapsed time, never on the number of tokens. Content is
 * accumulated by the stream reducer, not here: a streaming block is stored as it started and
 * written whole when it stops.
 */
export class ReplyWriter {
  readonly #store: ReplyStore;
  readonly #claim: Claim;
  readonly #flushMs: number;
  readonly #maxBlocks: number;
  readonly #reply: MessageRecord;
  /** Blocks as stored when they stopped; a streaming block holds its start until then. */
  readonly #blocks: BlockContent[];
  /** Positions started and not stopped yet. */
  readonly #streaming = new Set<number>();
  /** Deltas not yet written, in arrival order, merged per (position, kind). */
  readonly #pending = new Map<string, PendingDelta>();
  #chain: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | null = null;
  /** A flush write is waiting in the chain: later deltas join it instead of queueing another. */
  #flushQueued = false;
  /** When the last flush write started (performance.now()). */
  #lastFlushAt = Number.NEGATIVE_INFINITY;
  /** Positions whose block_started has been written: only their deltas may be written. */
  readonly #announced = new Set<number>();
  #lost = false;
  readonly #onFenced: (() => void) | undefined;
  readonly #failure = new AbortController();

  constructor(store: ReplyStore, claim: Claim, reply: MessageRecord, options: ReplyWriterOptions) {
    this.#store = store;
    this.#claim = claim;
    this.#reply = reply;
    this.#blocks = [...reply.blocks];
    this.#flushMs = options.flushMs;
    this.#maxBlocks = options.maxBlocks;
    this.#onFenced = options.onFenced;
  }

  get replyId(): string {
    return this.#reply.id;
  }

  /** The reply with the blocks that have stopped, for the next round's history. */
  get reply(): MessageRecord {
    return { ...this.#reply, blocks: this.#blocks.filter((_, position) => !this.#streaming.has(position)) };
  }

  /** Aborted, with the error, when a write fails: nothing after it can be written in order. */
  get failed(): AbortSignal {
    return this.#failure.signal;
  }

  get maxBlocks(): number {
    return this.#maxBlocks;
  }

  /** Whether `count` more blocks fit in the reply. */
  fits(count = 1): boolean {
    return this.#blocks.length + count <= this.#maxBlocks;
  }

  /** A block starts streaming; returns its position. Throws ReplyTooLong, having written nothing, when it does not fit. */
  start(content: BlockContent): number {
    if (!this.fits()) throw new ReplyTooLong(this.#maxBlocks);
    const position = this.#blocks.push(content) - 1;
    this.#streaming.add(position);
    this.#enqueue(() => {
      this.#announced.add(position);
      // Stored as it starts; its deltas complete it for readers until it stops (no per-flush rewrite).
      return { blocks: [{ position, content, streaming: true }], events: [{ type: 'block_started', messageId: this.#reply.id, index: position, block: content }] };
    });
    return position;
  }

  delta(position: number, delta: BlockDelta): void {
    if (!this.#streaming.has(position)) return;
    const key = `${position}:${delta.kind}`;
    const pending = this.#pending.get(key);
    if (pending) pending.delta = { kind: delta.kind, value: pending.delta.value + delta.value };
    else this.#pending.set(key, { position, delta });
    if (!this.#flushQueued) this.#scheduleFlush();
  }

  /** The block at `position` is complete as `content`; `extra` events follow its block_stopped. */
  stop(position: number, content: BlockContent, extra: ConversationEvent[] = []): void {
    if (!this.#streaming.delete(position)) return;
    this.#blocks[position] = content;
    this.#enqueue(() => ({
      blocks: [{ position, content }],
      events: [...this.#takePending((pending) => pending.position === position), { type: 'block_stopped', messageId: this.#reply.id, index: position, block: content }, ...extra],
    }));
  }

  /**
   * Blocks Parley writes whole (tool results): stored and announced complete. Throws
   * ReplyTooLong, having written none of them, when they do not all fit.
   */
  append(contents: BlockContent[], extra: ConversationEvent[] = []): void {
    if (!this.fits(contents.length)) throw new ReplyTooLong(this.#maxBlocks);
    const start = this.#blocks.length;
    this.#blocks.push(...contents);
    this.#enqueue(() => ({
      blocks: contents.map((content, i) => ({ position: start + i, content })),
      events: [...contents.map((block, i) => ({ type: 'block_stopped' as const, messageId: this.#reply.id, index: start + i, block })), ...extra],
    }));
  }

  events(events: ConversationEvent[]): void {
    this.#enqueue(() => ({ blocks: [], events }));
  }

  /**
   * The usage of a model request that ended, for the ledger: written in order after the blocks
   * it streamed, fenced by the claim like them.
   */
  recordUsage(usage: ModelRequestUsage): void {
    this.#enqueue(() => ({ blocks: [], events: [], usage: [usage] }));
  }

  /**
   * Writes the deltas gathered so far (events only: the blocks stay as they started). The
   * deltas are taken when the write runs, not when it is queued: while an earlier write is still
   * in flight, everything that arrives joins this one, so a slow database means larger writes,
   * never a growing queue of them.
   */
  flush(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    this.#enqueue(() => {
      this.#flushQueued = false;
      this.#lastFlushAt = performance.now();
      const deltas = this.#takePending((pending) => this.#announced.has(pending.position));
      // Deltas of a block whose start is still queued wait for the next flush.
      if (this.#pending.size > 0) this.#scheduleFlush();
      return { blocks: [], events: deltas };
    });
  }

  /** Waits for every write; throws PromptStopped('lease_lost') if the claim was lost. */
  async settle(): Promise<void> {
    await this.#chain;
    if (this.#lost) throw new PromptStopped('lease_lost');
  }

  /**
   * Leading edge, then at most one flush per interval: a delta after a quiet spell (the first
   * token of a block, above all) is written at once instead of waiting out the interval; deltas
   * that follow within it gather for the next write.
   */
  #scheduleFlush(): void {
    if (this.#timer) return;
    const wait = this.#lastFlushAt + this.#flushMs - performance.now();
    if (wait <= 0) this.flush();
    else this.#timer = setTimeout(() => this.flush(), wait);
  }

  #takePending(match: (pending: PendingDelta) => boolean): ConversationEvent[] {
    const events: ConversationEvent[] = [];
    for (const [key, pending] of this.#pending) {
      if (!match(pending)) continue;
      this.#pending.delete(key);
      events.push({ type: 'block_delta', messageId: this.#reply.id, index: pending.position, delta: pending.delta });
    }
    return events;
  }

  /** Queues a write; `prepare` decides what it writes when its turn comes. */
  #enqueue(prepare: () => { blocks: BlockWrite[]; events: ConversationEvent[]; usage?: ModelRequestUsage[] }): void {
    this.#chain = this.#chain.then(async () => {
      if (this.#lost) return;
      const { blocks, events, usage = [] } = prepare();
      if (blocks.length === 0 && events.length === 0 && usage.length === 0) return;
      const held = await this.#store.writeBlocks(this.#claim, this.#reply.id, blocks, events, usage);
      if (!held) {
        this.#lost = true;
        this.#onFenced?.();
      }
    });
    // settle() reports a failed write; until then it must not count as unhandled.
    this.#chain.catch((error: unknown) => {
      if (!this.#failure.signal.aborted) this.#failure.abort(error);
    });
  }
}
