import type { Claim } from '../domain/records.ts';
import { inNewLogContext } from '../log-context.ts';
import type { Logger } from '../logger.ts';
import { CANCEL_CHANNEL, QUEUE_CHANNEL } from '../store/channels.ts';
import type { Notifications } from '../store/notifications.ts';
import type { QueueStore } from '../store/queue-store.ts';
import { PromptStopped, type StopCause } from './prompt/prompt-stopped.ts';

export interface ClaimLoopOptions {
  /** Prompts this instance runs at once. */
  concurrency: number;
  /** How long a claim holds without renewal. Renewed every third of it. */
  leaseMs: number;
  /** Safety-net poll, for notifications lost while the listen connection was down. */
  pollMs: number;
  /** Attempts per user message before lease recovery fails it. */
  maxAttempts: number;
  /** Recorded on each attempt this instance claims. */
  instanceId?: string;
  /** This instance recovered prompts whose lease had expired (for metrics). */
  onLeasesRecovered?: (count: number) => void;
}

/**
 * A running prompt's place in the instance's concurrency. A prompt that waits on someone else
 * (a client tool's answer) parks: it frees its place for another conversation's prompt while it
 * waits, keeps its lease, and takes a place again when it goes on.
 */
export interface PromptSlot {
  park(): void;
  /** Resolves once the prompt has a place again (at once when one is free, or when `signal` aborts). */
  resume(signal: AbortSignal): Promise<void>;
}

/** Runs one claimed prompt to its end. Must not throw; reads `signal.reason` when aborted. */
export type RunPrompt = (claim: Claim, signal: AbortSignal, slot: PromptSlot) => Promise<void>;

/** Parked prompts an instance holds besides its active ones, per place: memory and leases stay bounded. */
const PARKED_PER_SLOT = 10;

interface Running {
  claim: Claim;
  controller: AbortController;
  done: Promise<void>;
}

/**
 * The claim loop: takes queued user messages from the queue (the `message` table) and hands
 * them to the prompt runner: one active prompt per conversation across every instance, oldest
 * first, at most `concurrency` at once here. Woken at once by NOTIFY when work arrives or a
 * prompt ends anywhere; a slow poll covers lost notifications. It also holds the running
 * prompts' leases, recovers expired ones, and is the one place a running prompt is stopped:
 * a cancel (by notification or seen at lease renewal), a lost lease, or shutdown.
 */
export class ClaimLoop {
  readonly #store: QueueStore;
  readonly #notifications: Notifications;
  readonly #run: RunPrompt;
  readonly #options: ClaimLoopOptions;
  readonly #logger: Logger;
  readonly #running = new Map<string, Running>();
  /** Running prompts that wait on a client and hold no place (a subset of #running). */
  readonly #parked = new Set<string>();
  /** Parked prompts ready to go on, waiting for a place, first come first served. */
  readonly #resuming: Array<{ messageId: string; go: () => void }> = [];
  readonly #unsubscribe: Array<() => void> = [];
  #timers: NodeJS.Timeout[] = [];
  #draining: Promise<void> | null = null;
  #drainAgain = false;
  #stopped = true;

  constructor(store: QueueStore, notifications: Notifications, run: RunPrompt, options: ClaimLoopOptions, logger: Logger) {
    this.#store = store;
    this.#notifications = notifications;
    this.#run = run;
    this.#options = options;
    this.#logger = logger;
  }

  start(): void {
    // An instance that runs no prompts still serves the API and streams events.
    if (!this.#stopped || this.#options.concurrency === 0) return;
    this.#stopped = false;
    this.#unsubscribe.push(
      this.#notifications.on(QUEUE_CHANNEL, () => this.wake()),
      this.#notifications.on(CANCEL_CHANNEL, (messageId) => this.#abort(messageId, 'cancelled')),
      this.#notifications.onReconnect(() => this.wake()),
    );
    this.#timers = [
      setInterval(() => this.#recover(), this.#options.pollMs),
      setInterval(() => this.#renew(), Math.max(50, Math.floor(this.#options.leaseMs / 3))),
    ];
    this.wake();
  }

  /** Look for claimable work now. Cheap to call often: concurrent calls coalesce. */
  wake(): void {
    if (this.#stopped) return;
    if (this.#draining) {
      this.#drainAgain = true;
      return;
    }
    // A parked prompt wakes the loop from its own log context; what the loop logs is not its.
    this.#draining = inNewLogContext({}, () => this.#drain()).finally(() => {
      this.#draining = null;
      if (this.#drainAgain) {
        this.#drainAgain = false;
        this.wake();
      }
    });
  }

  /**
   * Stops a prompt cancelled through this instance at once, if it runs here. The notification
   * the cancel sent reaches every instance too (this one included); this only saves its trip.
   */
  cancelLocal(messageId: string): void {
    this.#abort(messageId, 'cancelled');
  }

  /** Prompts running on this instance, parked ones (waiting on a client) included. */
  get runningCount(): number {
    return this.#running.size;
  }

  /**
   * Stops claiming, waits for running prompts up to `deadlineMs`, then stops the rest with reason
   * `shutdown` and waits for them to write their state.
   */
  async stop(deadlineMs = 0): Promise<void> {
    this.#stopped = true;
    for (const timer of this.#timers) clearInterval(timer);
    this.#timers = [];
    for (const unsubscribe of this.#unsubscribe.splice(0)) unsubscribe();
    await this.#draining;
    const all = () => Promise.all([...this.#running.values()].map((r) => r.done));
    if (deadlineMs > 0) {
      await Promise.race([all(), new Promise((resolve) => setTimeout(resolve, deadlineMs).unref())]);
    }
    for (const { claim, controller } of this.#running.values()) {
      if (controller.signal.aborted) continue;
      const { conversationId, messageId, attempt } = claim;
      this.#logger.warn('shutdown cuts off a running reply; the message is queued again', { conversationId, messageId, attempt });
      this.#abort(messageId, 'shutdown');
    }
    await all();
  }

  async #drain(): Promise<void> {
    while (!this.#stopped && this.#hasRoom()) {
      let result: Awaited<ReturnType<QueueStore['claimNext']>>;
      try {
        result = await this.#store.claimNext(this.#options.leaseMs, this.#options.instanceId ?? null);
      } catch (error) {
        this.#logger.warn('claiming from the queue failed; the poll will try again', { error });
        return;
      }
      if (result.kind === 'empty') return;
      // contended: another instance took this one in the same instant; look again.
      if (result.kind === 'claimed') this.#launch(result.claim);
    }
  }

  /**
   * A place free for one more claimed prompt: active ones, and parked ones waiting to go on
   * (which come first), below the concurrency; parked ones within their bound.
   */
  #hasRoom(): boolean {
    const active = this.#running.size - this.#parked.size;
    return active + this.#resuming.length < this.#options.concurrency && this.#running.size < this.#options.concurrency * (1 + PARKED_PER_SLOT);
  }

  /** Gives free places to parked prompts that wait to go on, in the order they asked. */
  #admitResuming(): void {
    while (this.#resuming.length > 0 && this.#running.size - this.#parked.size < this.#options.concurrency) {
      const next = this.#resuming.shift()!;
      this.#parked.delete(next.messageId);
      next.go();
    }
  }

  #launch(claim: Claim): void {
    const controller = new AbortController();
    const { messageId } = claim;
    const slot: PromptSlot = {
      park: () => {
        if (!this.#running.has(messageId) || this.#parked.has(messageId)) return;
        this.#parked.add(messageId);
        this.#admitResuming();
        this.wake();
      },
      resume: (signal) => {
        if (!this.#parked.has(messageId)) return Promise.resolve();
        const { promise, resolve } = Promise.withResolvers<void>();
        const entry = { messageId, go: resolve };
        this.#resuming.push(entry);
        this.#admitResuming();
        // A prompt that is stopped takes its place at once to write its end; it ends soon.
        const stop = () => {
          const index = this.#resuming.indexOf(entry);
          if (index >= 0) this.#resuming.splice(index, 1);
          this.#parked.delete(messageId);
          resolve();
        };
        if (signal.aborted) stop();
        else signal.addEventListener('abort', stop, { once: true });
        return promise.finally(() => signal.removeEventListener('abort', stop));
      },
    };
    // Every line the prompt logs names it. A fresh context: the claim may have been made while
    // another prompt's context was current (its end wakes the loop).
    const context = { conversationId: claim.conversationId, messageId };
    const done = inNewLogContext(context, () => this.#run(claim, controller.signal, slot))
      .catch((error: unknown) => this.#logger.error('prompt runner failed', { messageId, error }))
      .finally(() => {
        this.#running.delete(messageId);
        this.#parked.delete(messageId);
        const waiting = this.#resuming.findIndex((entry) => entry.messageId === messageId);
        if (waiting >= 0) this.#resuming.splice(waiting, 1);
        this.#admitResuming();
        this.wake();
      });
    this.#running.set(messageId, { claim, controller, done });
  }

  #abort(messageId: string, cause: StopCause): void {
    const running = this.#running.get(messageId);
    if (!running || running.controller.signal.aborted) return;
    running.controller.abort(new PromptStopped(cause));
  }

  async #renew(): Promise<void> {
    const claims = [...this.#running.values()].map((r) => r.claim);
    if (claims.length === 0) return;
    try {
      for (const state of await this.#store.renewLeases(claims, this.#options.leaseMs)) {
        if (!state.held) this.#abort(state.messageId, 'lease_lost');
        else if (state.cancelRequested) this.#abort(state.messageId, 'cancelled');
      }
    } catch (error) {
      // The lease runs on; if the database stays away long enough, another instance recovers.
      this.#logger.warn('renewing leases failed', { error });
    }
  }

  async #recover(): Promise<void> {
    try {
      const recovered = await this.#store.recoverExpiredLeases(this.#options.maxAttempts);
      if (recovered > 0) {
        this.#logger.warn('recovered prompts whose lease expired', { count: recovered });
        this.#options.onLeasesRecovered?.(recovered);
      }
    } catch (error) {
      this.#logger.warn('lease recovery failed', { error });
    }
    this.wake();
  }
}
