import type { ConversationEvent } from '../store/events.ts';
import type { Claim, PromptStore } from '../store/prompt-store.ts';
import type { BlockContent, MessageRecord } from '../store/records.ts';
import { applyDelta } from '../store/streamed-blocks.ts';
import { PromptStopped } from './conversation-queue.ts';

type DeltaKind = 'text' | 'thinking' | 'signature' | 'partial_json';

interface OpenBlock {
  content: BlockContent;
  /** Tool input JSON as it streams; parsed when the block stops. */
  partialJson: string;
}

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
}

/**
 * The reply of a running prompt as it is written: holds its blocks (stored and streaming),
 * coalesces deltas into one write per flush interval, and writes in order through one chain.
 * Every write stores the change and its events in one transaction, fenced by the claim; the
 * number of writes depends on blocks and elapsed time, never on the number of tokens.
 */
export class ReplyWriter {
  readonly #store: PromptStore;
  readonly #claim: Claim;
  readonly #flushMs: number;
  readonly #maxBlocks: number;
  readonly #blocks: BlockContent[];
  readonly #open = new Map<number, OpenBlock>();
  /** Deltas not yet written, in arrival order, merged per (block, kind). */
  readonly #pending = new Map<string, { index: number; kind: DeltaKind; value: string }>();
  #chain: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | null = null;
  /** A flush write is waiting in the chain: later deltas join it instead of queueing another. */
  #flushQueued = false;
  /** When the last flush write started (performance.now()). */
  #lastFlushAt = Number.NEGATIVE_INFINITY;
  /** Blocks whose block_started has been written: only their deltas may be written. */
  readonly #announced = new Set<number>();
  #lost = false;
  readonly #failure = new AbortController();
  readonly reply: MessageRecord;

  constructor(store: PromptStore, claim: Claim, reply: MessageRecord, options: ReplyWriterOptions) {
    this.#store = store;
    this.#claim = claim;
    this.reply = reply;
    this.#blocks = [...reply.blocks];
    this.#flushMs = options.flushMs;
    this.#maxBlocks = options.maxBlocks;
  }

  /** The reply with every block written so far, streaming ones as they stand. */
  snapshot(): MessageRecord {
    return { ...this.reply, blocks: this.#blocks.map((block, i) => this.#open.get(i)?.content ?? block) };
  }

  /** Blocks stored, for the next round's history. */
  get storedBlocks(): BlockContent[] {
    return this.#blocks.filter((_, i) => !this.#open.has(i));
  }

  /** Aborted, with the error, when a write fails: nothing after it can be written in order. */
  get failed(): AbortSignal {
    return this.#failure.signal;
  }

  get size(): number {
    return this.#blocks.length;
  }

  /** Whether `count` more blocks fit from position `at` on. */
  fits(at: number, count = 1): boolean {
    return at + count <= this.#maxBlocks;
  }

  /** Throws ReplyTooLong, having written nothing, when the block does not fit. */
  start(index: number, content: BlockContent): void {
    if (!this.fits(index)) throw new ReplyTooLong(this.#maxBlocks);
    this.#blocks[index] = content;
    this.#open.set(index, { content, partialJson: '' });
    this.#enqueue(() => {
      this.#announced.add(index);
      // Stored as it starts; its deltas complete it for readers until it stops (no per-flush rewrite).
      return { blocks: [{ position: index, content, streaming: true }], events: [{ type: 'block_started', messageId: this.reply.id, index, block: content }] };
    });
  }

  delta(index: number, kind: DeltaKind, value: string): void {
    const open = this.#open.get(index);
    if (!open || value === '') return;
    open.content = applyDelta(open.content, { kind, value });
    if (kind === 'partial_json') open.partialJson += value;
    const key = `${index}:${kind}`;
    const pending = this.#pending.get(key);
    if (pending) pending.value += value;
    else this.#pending.set(key, { index, kind, value });
    if (!this.#flushQueued) this.#scheduleFlush();
  }

  /** The block is complete; returns it as stored. */
  stop(index: number, extra: ConversationEvent[] = []): BlockContent | null {
    const open = this.#open.get(index);
    if (!open) return null;
    let content = open.content;
    if (content.type === 'tool_use') content = { ...content, input: parseInput(open.partialJson) };
    this.#open.delete(index);
    this.#blocks[index] = content;
    this.#enqueue(() => ({
      blocks: [{ position: index, content }],
      events: [
        ...this.#takePending((pending) => pending.index === index),
        { type: 'block_stopped', messageId: this.reply.id, index, block: content },
        ...extra,
      ],
    }));
    return content;
  }

  /**
   * Blocks Parley writes whole (tool results): stored and announced complete. Throws
   * ReplyTooLong, having written none of them, when they do not all fit.
   */
  append(contents: BlockContent[], extra: ConversationEvent[] = []): void {
    const start = this.#blocks.length;
    if (!this.fits(start, contents.length)) throw new ReplyTooLong(this.#maxBlocks);
    this.#blocks.push(...contents);
    this.#enqueue(() => ({
      blocks: contents.map((content, i) => ({ position: start + i, content })),
      events: [...contents.map((block, i) => ({ type: 'block_stopped' as const, messageId: this.reply.id, index: start + i, block })), ...extra],
    }));
  }

  events(events: ConversationEvent[]): void {
    this.#enqueue(() => ({ blocks: [], events }));
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
      const deltas = this.#takePending((pending) => this.#announced.has(pending.index));
      // Deltas of a block whose start is still queued wait for the next flush.
      if (this.#pending.size > 0) this.#scheduleFlush();
      // Only the events: a streaming block's row is completed from them when read.
      return { blocks: [], events: deltas };
    });
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

  /** Ends streaming blocks where they stand (a stop or failure mid-stream keeps the partial text). */
  closeOpenBlocks(): void {
    for (const index of [...this.#open.keys()].sort((a, b) => a - b)) this.stop(index);
  }

  /** Waits for every write; throws PromptStopped('lease_lost') if the claim was lost. */
  async settle(): Promise<void> {
    await this.#chain;
    if (this.#lost) throw new PromptStopped('lease_lost');
  }

  #takePending(match: (pending: { index: number }) => boolean): ConversationEvent[] {
    const events: ConversationEvent[] = [];
    for (const [key, pending] of this.#pending) {
      if (!match(pending)) continue;
      this.#pending.delete(key);
      events.push({ type: 'block_delta', messageId: this.reply.id, index: pending.index, delta: { kind: pending.kind, value: pending.value } });
    }
    return events;
  }

  /** Queues a write; `prepare` decides what it writes when its turn comes. */
  #enqueue(prepare: () => { blocks: Array<{ position: number; content: BlockContent; streaming?: boolean }>; events: ConversationEvent[] }): void {
    this.#chain = this.#chain.then(async () => {
      if (this.#lost) return;
      const { blocks, events } = prepare();
      if (blocks.length === 0 && events.length === 0) return;
      const held = await this.#store.writeBlocks(this.#claim, this.reply.id, blocks, events);
      if (!held) this.#lost = true;
    });
    // settle() reports a failed write; until then it must not count as unhandled.
    this.#chain.catch((error: unknown) => {
      if (!this.#failure.signal.aborted) this.#failure.abort(error);
    });
  }
}

function parseInput(json: string): Record<string, unknown> {
  if (json.trim() === '') return {};
  try {
    const value: unknown = JSON.parse(json);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
  } catch {
    // Cut off mid-input (max_tokens, a cancel): the call cannot run; keep the block, without input.
    return {};
  }
}
