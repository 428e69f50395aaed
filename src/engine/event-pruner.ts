import type { Logger } from '../logger.ts';
import type { EventPruning } from '../store/event-pruning.ts';

export interface EventPrunerOptions {
  /** Events older than this are deleted; 0 keeps them for ever. */
  horizonMs: number;
  /** How often a round starts. */
  everyMs: number;
  /** Events per statement: short transactions, no long locks. */
  batch: number;
}

/** Pause between batches of one round, so that pruning never takes the database for itself. */
const BATCH_PAUSE_MS = 20;

/**
 * Runs event pruning on this instance now and then: each round deletes batch after batch until
 * nothing older than the horizon is left. Failures (the database away) are logged and the next
 * round tries again.
 */
export class EventPruner {
  readonly #store: EventPruning;
  readonly #options: EventPrunerOptions;
  readonly #logger: Logger;
  #timer: NodeJS.Timeout | null = null;
  #round: Promise<void> | null = null;
  #stopped = false;

  constructor(store: EventPruning, options: EventPrunerOptions, logger: Logger) {
    this.#store = store;
    this.#options = options;
    this.#logger = logger;
  }

  start(): void {
    if (this.#options.horizonMs === 0) return;
    this.#schedule();
  }

  /** One round, to its end: how many events it deleted. */
  async pruneNow(): Promise<number> {
    let deleted = 0;
    while (!this.#stopped) {
      const batch = await this.#store.prune(this.#options.horizonMs, this.#options.batch);
      deleted += batch;
      if (batch < this.#options.batch) break;
      await new Promise((resolve) => setTimeout(resolve, BATCH_PAUSE_MS));
    }
    return deleted;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#round;
  }

  #schedule(): void {
    this.#timer = setTimeout(() => {
      this.#round = this.pruneNow()
        .then((deleted) => {
          if (deleted > 0) this.#logger.info('pruned events past the retention horizon', { deleted });
        })
        .catch((error: unknown) => this.#logger.warn('pruning events failed; the next round tries again', { error }))
        .finally(() => {
          this.#round = null;
          if (!this.#stopped) this.#schedule();
        });
    }, this.#options.everyMs);
    this.#timer.unref();
  }
}
