import type pg from 'pg';

/**
 * Gives a pooled connection back to the pool when the server closes it while it is checked out.
 *
 * Kysely (0.29, under MikroORM 7.2) releases a transaction's connection only after its COMMIT or
 * ROLLBACK succeeds. When the database restarts mid-transaction both fail, the connection is never
 * released, and the pool counts it as busy for the life of the process: each transaction in flight
 * at a restart costs one connection for good, and once they are all gone every query waits
 * forever. Releasing a dead connection with an error makes the pool discard it and open a fresh
 * one for the next caller.
 *
 * The release function pg-pool hands out throws when called twice; Kysely still calls it when a
 * plain query on the dead connection settles, so the guarded release ignores second calls.
 */
export function guardPool(pool: pg.Pool): void {
  pool.on('connect', (client) => guardClient(client));
}

function guardClient(client: pg.PoolClient): void {
  let release: ((error?: Error | boolean) => void) | undefined;
  let checkedOut = false;
  // pg-pool assigns a fresh `release` on every checkout; the setter wraps each one.
  Object.defineProperty(client, 'release', {
    configurable: true,
    enumerable: false,
    get: () => release,
    set: (poolRelease: (error?: Error | boolean) => void) => {
      checkedOut = true;
      release = (error) => {
        if (!checkedOut) return;
        checkedOut = false;
        poolRelease(error);
      };
    },
  });
  client.once('end', () => {
    if (checkedOut) release?.(new Error('the database closed this connection while it was in use'));
  });
}
