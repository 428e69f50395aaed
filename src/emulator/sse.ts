import type { ServerResponse } from 'node:http';

/** One SSE event exactly as the API frames it: `event:` line, `data:` line, blank line. */
export function formatEvent(data: { readonly type: string }): string {
  return `event: ${data.type}\ndata: ${JSON.stringify(data)}\n\n`;
}

export class AbortedError extends Error {
  constructor() {
    super('aborted');
    this.name = 'AbortedError';
  }
}

/** Resolves after `ms`, or rejects with AbortedError as soon as `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(new AbortedError());
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new AbortedError());
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** Resolves when `signal` aborts. */
export function untilAborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}

/**
 * Writes one event per `write` call, so a ping sent from a timer can never land inside another
 * event, and waits for the socket to drain so a slow reader slows the stream like the real one.
 */
export async function writeChunk(res: ServerResponse, chunk: string, signal: AbortSignal): Promise<void> {
  if (signal.aborted) throw new AbortedError();
  if (res.write(chunk)) return;
  await new Promise<void>((resolve, reject) => {
    const done = (): void => {
      res.off('drain', done);
      signal.removeEventListener('abort', aborted);
      resolve();
    };
    const aborted = (): void => {
      res.off('drain', done);
      reject(new AbortedError());
    };
    res.on('drain', done);
    signal.addEventListener('abort', aborted, { once: true });
  });
}

/**
 * Cuts the connection mid-response. Ending the socket first flushes what was already written,
 * so the client sees every token sent before the drop and then an unterminated body.
 */
export function dropConnection(res: ServerResponse): void {
  const socket = res.socket;
  if (!socket || socket.destroyed) return;
  socket.once('finish', () => socket.destroy());
  socket.end();
}

/** Sends output tokens at a steady rate without drift; `Infinity` or `undefined` means no pacing. */
export class Pacer {
  readonly #intervalMs: number;
  #start = 0;
  #sent = 0;

  constructor(tokensPerSecond: number | undefined) {
    this.#intervalMs =
      tokensPerSecond === undefined || !Number.isFinite(tokensPerSecond) || tokensPerSecond <= 0
        ? 0
        : 1000 / tokensPerSecond;
  }

  get paced(): boolean {
    return this.#intervalMs > 0;
  }

  /** The time `tokens` tokens take at this pace. */
  durationOf(tokens: number): number {
    return tokens * this.#intervalMs;
  }

  async beforeToken(signal: AbortSignal): Promise<void> {
    if (!this.paced) return;
    if (this.#sent === 0) this.#start = Date.now();
    this.#sent += 1;
    const due = this.#start + this.#sent * this.#intervalMs;
    const wait = due - Date.now();
    if (wait > 0) await sleep(wait, signal);
  }
}
