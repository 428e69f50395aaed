import { deltaText, type Stream, type SubscriberPool } from './clients.ts';

/** The first text delta after `arm()`. */
export interface FirstDelta {
  text: string;
  at: number;
}

/**
 * One subscriber of one conversation for its whole life, across many prompts (watch() follows
 * only the first): a conversation grown to a thousand messages is subscribed to once, so its
 * snapshot is sent once rather than before every probe.
 */
export class Follower {
  readonly stream: Stream;
  /** The snapshot arrived: a SendMessage from now on will be seen. */
  readonly snapshot: Promise<void>;
  #finished = 0;
  #error: string | null = null;
  #armed = false;
  #first: FirstDelta | null = null;
  #waiters: Array<{ count: number; resolve: () => void; reject: (error: Error) => void }> = [];

  constructor(pool: SubscriberPool, conversationId: string) {
    let snapshotResolve: () => void = () => undefined;
    this.snapshot = new Promise<void>((resolve) => (snapshotResolve = resolve));
    this.stream = pool.open(conversationId, (response, at) => {
      switch (response.event.case) {
        case 'snapshot':
          snapshotResolve();
          return;
        case 'promptFinished':
          this.#finished += 1;
          this.#wake();
          return;
        case 'promptFailed':
          this.#error ??= response.event.value.error?.message ?? 'prompt failed';
          this.#wake();
          return;
        default: {
          const text = deltaText(response);
          if (text !== null && this.#armed && this.#first === null) this.#first = { text, at };
        }
      }
    });
    void this.stream.ended.then((error) => {
      this.#error ??= error ? `${error.code}: ${error.details}` : 'the stream ended';
      snapshotResolve();
      this.#wake();
    });
  }

  /** Prompts of this conversation that finished since the subscription began. */
  get finished(): number {
    return this.#finished;
  }

  /** Start looking for the first delta of the next reply. */
  arm(): void {
    this.#armed = true;
    this.#first = null;
  }

  /** The first delta seen since `arm()`, if any; stops looking. */
  take(): FirstDelta | null {
    this.#armed = false;
    return this.#first;
  }

  /** Settles once `count` prompts have finished; rejects as soon as one fails. */
  until(count: number): Promise<void> {
    if (this.#error !== null) return Promise.reject(new Error(this.#error));
    if (this.#finished >= count) return Promise.resolve();
    return new Promise((resolve, reject) => this.#waiters.push({ count, resolve, reject }));
  }

  #wake(): void {
    const waiting = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiting) {
      if (this.#error !== null) waiter.reject(new Error(this.#error));
      else if (this.#finished >= waiter.count) waiter.resolve();
      else this.#waiters.push(waiter);
    }
  }
}
