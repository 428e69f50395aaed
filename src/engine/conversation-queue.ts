import type { Logger } from '../logger.ts';
import type { Notifications } from '../store/notifications.ts';
import { CANCEL_CHANNEL, QUEUE_CHANNEL } from '../store/channels.ts';
import type { Claim, PromptStore } from '../store/prompt-store.ts';

export interface QueueOptions {
  /** Prompts this instance runs at once. */
  concurrency: number;
  /** How long a claim holds without renewal. Renewed every third of it. */
  leaseMs: number;
  /** Safety-net poll, for notifications lost while the listen connection was down. */
  pollMs: number;
  /** Attempts per user message before lease recovery fails it. */
  maxAttempts: number;
}

/** Why a running prompt's signal was aborted. */
export type StopReason = 'cancelled' | 'lease_lost' | 'shutdown';

export class PromptStopped extends Error {
  readonly reason: StopReason;
  constructor(reason: StopReason) {
    super(`prompt stopped: ${reason}`);
    this.name = 'PromptStopped';
    this.reason = reason;
  }
}

/** Runs one claimed prompt to its end. Must not throw; reads `signal.reason` when aborted. */
export type RunPrompt = (claim: Claim, signal: AbortSignal) => Promise<void>;

interface Running {
  claim: Claim;
  controller: AbortController;
  done: Promise<void>;
}

/**
 * Hands queued user messages to the prompt runner: one active prompt per conversation across
 * every instance, oldest first, at most `concurrency` at once here. Woken at once by NOTIFY when
 * work arrives or a prompt ends anywhere; a slow poll covers lost notifications.
 */
export class ConversationQueue {
  readonly #store: PromptStore;
  readonly #notifications: Notifications;
  readonly #run: RunPrompt;
  readonly #options: QueueOptions;
  readonly #logger: Logger;
  readonly #running = new Map<string, Running>();
  readonly #unsubscribe: Array<() => void> = [];
  #timers: NodeJS.Timeout[] = [];
  #draining: Promise<void> | null = null;
  #drainAgain = false;
  #stopped = true;

  constructor(store: PromptStore, notifications: Notifications, run: RunPrompt, options: QueueOptions, logger: Logger) {
    this.#store = store;
    this.#notifications = notifications;
    this.#run = run;
    this.#options = options;
    this.#logger = logger;
  }

  /** Number of prompts running on this instance. */
  get activeCount(): number {
    return this.#running.size;
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
    this.#draining = this.#drain().finally(() => {
      this.#draining = null;
      if (this.#drainAgain) {
        this.#drainAgain = false;
        this.wake();
      }
    });
  }

  /** Stops a prompt running on this instance, if it is here. */
  cancelLocal(messageId: string): boolean {
    return this.#abort(messageId, 'cancelled');
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
    for (const messageId of this.#running.keys()) this.#abort(messageId, 'shutdown');
    await all();
  }

  async #drain(): Promise<void> {
    while (!this.#stopped && this.#running.size < this.#options.concurrency) {
      let claim: Claim | null;
      try {
        claim = await this.#store.claimNext(this.#options.leaseMs);
      } catch (error) {
        if (!isUniqueViolation(error)) {
          this.#logger.warn('claiming from the queue failed; the poll will try again', { error });
          return;
        }
        // Another instance activated this conversation in the same instant; the index said no.
        continue;
      }
      if (!claim) return;
      this.#launch(claim);
    }
  }

  #launch(claim: Claim): void {
    const controller = new AbortController();
    const done = this.#run(claim, controller.signal)
      .catch((error: unknown) => this.#logger.error('prompt runner failed', { messageId: claim.messageId, error }))
      .finally(() => {
        this.#running.delete(claim.messageId);
        this.wake();
      });
    this.#running.set(claim.messageId, { claim, controller, done });
  }

  #abort(messageId: string, reason: StopReason): boolean {
    const running = this.#running.get(messageId);
    if (!running || running.controller.signal.aborted) return false;
    running.controller.abort(new PromptStopped(reason));
    return true;
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
      if (recovered > 0) this.#logger.warn('recovered prompts whose lease expired', { count: recovered });
    } catch (error) {
      this.#logger.warn('lease recovery failed', { error });
    }
    this.wake();
  }
}

function isUniqueViolation(error: unknown): boolean {
  return typeof error === 'object' && error !== null && 'code' in error && (error as { code: unknown }).code === '23505';
}
