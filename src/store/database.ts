import pg from 'pg';
import { requestErrors } from '../domain/request-errors.ts';
import { requestSignal } from '../domain/request-scope.ts';

/** SQL with bound parameters ($1, $2, …): the one way the stores reach PostgreSQL. */
export interface Sql {
  query<T>(text: string, values?: readonly unknown[]): Promise<T[]>;
}

export interface TransactionOptions {
  /** One consistent snapshot for every statement (reads that must agree with each other). */
  repeatableRead?: boolean;
  readOnly?: boolean;
}

/**
 * The database seam: statements on the pool, or a transaction on one pooled connection. The
 * pool is the ORM's own (one pool per instance), so MikroORM, where a store uses its entity
 * API, and these statements share connections and limits. Parameters are always bound: nothing
 * is quoted into SQL text in JavaScript.
 *
 * Each statement is reported to `onQuery` (statement counts in tests and benchmarks), as
 * MikroORM reports its own; transaction control (begin, commit) is not, as MikroORM does not.
 */
export class Database implements Sql {
  readonly #pool: pg.Pool;
  readonly #onQuery: ((sql: string) => void) | undefined;

  constructor(pool: pg.Pool, onQuery?: (sql: string) => void) {
    this.#pool = pool;
    this.#onQuery = onQuery;
  }

  async query<T>(text: string, values: readonly unknown[] = []): Promise<T[]> {
    this.#onQuery?.(text);
    const signal = requestSignal();
    if (!signal) return (await this.#pool.query(text, values as unknown[])).rows as T[];
    const client = await this.#pool.connect();
    const held = this.#cancelOnAbort(client, signal);
    try {
      // Given up while it waited for the connection: start nothing.
      if (signal.aborted) throw requestErrors.abandoned();
      const rows = (await client.query(text, values as unknown[])).rows as T[];
      held.release();
      return rows;
    } catch (error) {
      // As pool.query does: a connection whose statement failed is not reused.
      held.release(error instanceof Error ? error : new Error(String(error)));
      throw error;
    }
  }

  /**
   * Cancels the statement the connection runs for a request once the request is abandoned.
   * A connection a cancel was sent for is discarded, not given back to the pool: a cancel that
   * arrived late would stop another request's statement.
   */
  #cancelOnAbort(client: pg.PoolClient, signal: AbortSignal): { release(discard?: Error): void } {
    let cancelled = false;
    const cancel = () => {
      cancelled = true;
      void this.#cancelBackend((client as pg.PoolClient & { processID: number }).processID);
    };
    // Aborted already: the caller checks before each statement, so nothing runs to cancel.
    if (!signal.aborted) signal.addEventListener('abort', cancel, { once: true });
    return {
      /** `discard`: why the connection must not be reused (else it goes back to the pool). */
      release: (discard?: Error) => {
        signal.removeEventListener('abort', cancel);
        client.release(cancelled ? new Error('a cancel was sent for this connection') : discard);
      },
    };
  }

  /**
   * Whether the database takes writes now: not a standby, not read-only by default. A database
   * that is up but refuses writes must not count as ready.
   */
  async acceptsWrites(): Promise<boolean> {
    const [row] = await this.query<{ writable: boolean }>(
      `select not pg_is_in_recovery() and current_setting('default_transaction_read_only') = 'off' as writable`,
    );
    return row?.writable === true;
  }

  /**
   * Cancels a backend's running statement from a connection of its own: the pool may be the
   * very thing the request was waiting for, and a cancel queued behind it would come too late.
   */
  async #cancelBackend(pid: number): Promise<void> {
    const client = new pg.Client(this.#pool.options);
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.query('select pg_cancel_backend($1)', [pid]);
    } catch {
      // The statement then runs to its end, or to the statement timeout.
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  /** Runs `work` in one transaction: committed when it returns, rolled back when it throws. */
  async transaction<T>(work: (sql: Sql) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    const client = await this.#pool.connect();
    const signal = requestSignal();
    const held = signal ? this.#cancelOnAbort(client, signal) : { release: (discard?: Error) => client.release(discard) };
    // A request given up between statements starts no more of them, and does not commit.
    const goOn = () => {
      if (signal?.aborted) throw requestErrors.abandoned();
    };
    const sql: Sql = {
      query: async <R>(text: string, values: readonly unknown[] = []) => {
        goOn();
        this.#onQuery?.(text);
        return (await client.query(text, values as unknown[])).rows as R[];
      },
    };
    try {
      goOn();
      await client.query(`begin${options.repeatableRead ? ' isolation level repeatable read' : ''}${options.readOnly ? ' read only' : ''}`);
      const result = await work(sql);
      goOn();
      await client.query('commit');
      held.release();
      return result;
    } catch (error) {
      // A connection whose rollback fails (the database went away) is discarded, not reused.
      const broken = await client.query('rollback').then(
        () => false,
        () => true,
      );
      held.release(broken ? (error instanceof Error ? error : new Error(String(error))) : undefined);
      throw error;
    }
  }
}

