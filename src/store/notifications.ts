import pg from 'pg';
import type { Logger } from '../logger.ts';

type Handler = (payload: string) => void;

/**
 * One LISTEN connection per instance for PostgreSQL notifications. Reconnects by itself after
 * the database goes away; `onReconnect` handlers run after each reconnect because notifications
 * sent while disconnected are lost, and listeners must catch up by reading state.
 */
export class Notifications {
  readonly #url: string;
  readonly #logger: Logger;
  readonly #keepAliveMs: number;
  readonly #handlers = new Map<string, Set<Handler>>();
  readonly #reconnectHandlers = new Set<() => void>();
  #client: pg.Client | null = null;
  #closed = false;
  #retryTimer: NodeJS.Timeout | null = null;
  /** LISTEN commands go one at a time: one connection runs one query at once. */
  #listening: Promise<unknown> = Promise.resolve();

  /** `keepAliveMs`: idle time before TCP keepalive probes, so that a dead LISTEN connection is noticed (0: off). */
  constructor(databaseUrl: string, logger: Logger, options: { keepAliveMs: number } = { keepAliveMs: 10_000 }) {
    this.#url = databaseUrl;
    this.#logger = logger;
    this.#keepAliveMs = options.keepAliveMs;
  }

  async start(): Promise<void> {
    await this.#connect();
  }

  on(channel: string, handler: Handler): () => void {
    const set = this.#handlers.get(channel) ?? new Set();
    set.add(handler);
    if (!this.#handlers.has(channel)) {
      this.#handlers.set(channel, set);
      const client = this.#client;
      if (client) {
        this.#listening = this.#listening
          .then(() => client.query(`listen ${pg.escapeIdentifier(channel)}`))
          .catch(() => undefined); // a lost connection re-listens to every channel on reconnect
      }
    }
    return () => set.delete(handler);
  }

  onReconnect(handler: () => void): () => void {
    this.#reconnectHandlers.add(handler);
    return () => this.#reconnectHandlers.delete(handler);
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    const client = this.#client;
    this.#client = null;
    await client?.end().catch(() => undefined);
  }

  async #connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.#url, keepAlive: this.#keepAliveMs > 0, keepAliveInitialDelayMillis: this.#keepAliveMs });
    client.on('notification', (message) => {
      for (const handler of this.#handlers.get(message.channel) ?? []) handler(message.payload ?? '');
    });
    client.on('error', (error) => {
      this.#logger.warn('notification connection lost; reconnecting', { error: error.message });
      this.#scheduleReconnect(client);
    });
    client.on('end', () => this.#scheduleReconnect(client));
    await client.connect();
    for (const channel of this.#handlers.keys()) await client.query(`listen ${pg.escapeIdentifier(channel)}`);
    this.#client = client;
  }

  #scheduleReconnect(failed: pg.Client | null, delayMs = 500): void {
    if (this.#closed || this.#retryTimer) return;
    if (failed !== null) {
      if (this.#client !== failed) return;
      this.#client = null;
      failed.removeAllListeners();
      failed.on('error', () => undefined);
      failed.end().catch(() => undefined);
    }
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      if (this.#closed) return;
      this.#connect().then(
        () => {
          this.#logger.info('notification connection restored');
          for (const handler of this.#reconnectHandlers) handler();
        },
        () => this.#scheduleReconnect(null, Math.min(delayMs * 2, 10_000)),
      );
    }, delayMs);
  }
}
