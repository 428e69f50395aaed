/**
 * Whether this instance can do its work: serving while the database answers (and accepts
 * writes) and the instance is not draining. One source for the gRPC health service and /readyz,
 * so a load balancer and Kubernetes see the same answer whichever probe they use.
 */
export type ServingStatus = 'serving' | 'not_serving';

export interface HealthMonitorOptions {
  /** How often the database is asked while someone watches (PARLEY_HEALTH_PROBE_MS). */
  probeEveryMs: number;
  /** A database that has not answered by then counts as away: a hung one serves nothing either. */
  probeTimeoutMs: number;
}

export class HealthShutDown extends Error {
  constructor() {
    super('the health monitor is closed');
    this.name = 'HealthShutDown';
  }
}

export class HealthMonitor {
  readonly #databaseAnswers: () => Promise<boolean>;
  readonly #options: HealthMonitorOptions;
  #draining = false;
  #closed = false;
  /** The last status told to watchers; null before the first probe. */
  #last: ServingStatus | null = null;
  /** One probe at a time: a burst of Checks costs one query. */
  #probing: Promise<ServingStatus> | null = null;
  readonly #watchers = new Set<() => void>();
  #timer: NodeJS.Timeout | null = null;

  constructor(databaseAnswers: () => Promise<boolean>, options: HealthMonitorOptions) {
    this.#databaseAnswers = databaseAnswers;
    this.#options = options;
  }

  /** The status now: asks the database (once for every caller asking at the same moment). */
  status(): Promise<ServingStatus> {
    if (this.#draining || this.#closed) return Promise.resolve('not_serving');
    this.#probing ??= this.#probe().finally(() => {
      this.#probing = null;
    });
    return this.#probing;
  }

  /**
   * The status now, then each change, until `signal` aborts (returns) or the monitor closes
   * (throws HealthShutDown, after `not_serving`). While anyone watches, the database is asked
   * every `probeEveryMs`.
   */
  async *watch(signal: AbortSignal): AsyncGenerator<ServingStatus> {
    let wake: (() => void) | null = null;
    const changed = () => wake?.();
    this.#watchers.add(changed);
    signal.addEventListener('abort', changed, { once: true });
    this.#schedule();
    try {
      let told = await this.status();
      yield told;
      for (;;) {
        if (signal.aborted) return;
        if (this.#closed) throw new HealthShutDown();
        const now = this.#current();
        if (now !== told) {
          told = now;
          yield now;
          continue;
        }
        await new Promise<void>((resolve) => (wake = resolve));
        wake = null;
      }
    } finally {
      this.#watchers.delete(changed);
      signal.removeEventListener('abort', changed);
      if (this.#watchers.size === 0) this.#unschedule();
    }
  }

  /** A graceful shutdown has begun: not serving from now on, and watchers hear it at once. */
  startDraining(): void {
    if (this.#draining) return;
    this.#draining = true;
    this.#tell();
  }

  /** Ends every watch (after `not_serving`) and stops probing. */
  close(): void {
    this.#closed = true;
    this.#unschedule();
    this.#tell();
  }

  #current(): ServingStatus {
    return this.#draining || this.#closed ? 'not_serving' : (this.#last ?? 'not_serving');
  }

  async #probe(): Promise<ServingStatus> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), this.#options.probeTimeoutMs)));
    const answers = await Promise.race([this.#databaseAnswers().catch(() => false), timedOut]).finally(() => clearTimeout(timer));
    const status: ServingStatus = answers && !this.#draining && !this.#closed ? 'serving' : 'not_serving';
    if (status !== this.#last) {
      this.#last = status;
      this.#tell();
    }
    return status;
  }

  #tell(): void {
    for (const wake of [...this.#watchers]) wake();
  }

  #schedule(): void {
    if (this.#timer || this.#closed) return;
    this.#timer = setInterval(() => void this.status(), this.#options.probeEveryMs);
    this.#timer.unref();
  }

  #unschedule(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }
}
