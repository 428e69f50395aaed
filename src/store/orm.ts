import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Migrator } from '@mikro-orm/migrations';
import { MikroORM, defineConfig } from '@mikro-orm/postgresql';
import pg from 'pg';
import { createLogger, type Logger } from '../logger.ts';
import { entities } from './entities/index.ts';
import { ormLoggerFactory } from './orm-logger.ts';
import { guardPool } from './pool-guard.ts';

export type Orm = MikroORM;

const MIGRATIONS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../migrations');

export interface OrmOptions {
  databaseUrl: string;
  /** Connection pool size per instance. */
  poolSize?: number;
  /** Bounds on the pool's waits and on each session's statements; none when left out. */
  timeouts?: DatabaseTimeouts;
  debug?: boolean;
  /** Where MikroORM's lines go (migrations applied at info, the rest at debug); by default warnings only, on stderr. */
  logger?: Logger;
  onQuery?: ((sql: string) => void) | undefined;
}

/** Milliseconds; 0 turns a bound off. */
export interface DatabaseTimeouts {
  /** Longest wait for a pooled connection (a free one, or a new one to be connected). */
  acquireMs: number;
  /** Longest a statement may run before the server cancels it (statement_timeout). */
  statementMs: number;
  /** Longest a session may sit idle inside a transaction before the server ends it. */
  idleInTransactionMs: number;
  /** Idle time before TCP keepalive probes start, so that a dead peer is noticed. */
  keepAliveMs: number;
}

function poolOptions(timeouts: DatabaseTimeouts | undefined) {
  if (!timeouts) return {};
  return {
    connectionTimeoutMillis: timeouts.acquireMs,
    statement_timeout: timeouts.statementMs,
    idle_in_transaction_session_timeout: timeouts.idleInTransactionMs,
    keepAlive: timeouts.keepAliveMs > 0,
    keepAliveInitialDelayMillis: timeouts.keepAliveMs,
  };
}

function ormConfig(options: OrmOptions) {
  return defineConfig({
    clientUrl: options.databaseUrl,
    entities,
    extensions: [Migrator],
    pool: { max: options.poolSize ?? 10 },
    driverOptions: { onPoolCreated: guardPool, ...poolOptions(options.timeouts) },
    debug: options.debug ?? false,
    loggerFactory: ormLoggerFactory(options.logger ?? createLogger('warn')),
    // MikroORM colours parts of some messages itself (versions, counts, entity names) unless told not to.
    colors: false,
    // Records are mapped by hand at the repository edge; no entity ever leaves src/store.
    forceUtcTimezone: true,
    ensureDatabase: false,
    discovery: { warnWhenNoEntities: true },
    migrations: {
      path: MIGRATIONS_DIR,
      pathTs: MIGRATIONS_DIR,
      emit: 'ts',
      snapshot: false,
    },
    // Vitest and Node both load `.ts` migrations through a plain dynamic import.
    dynamicImportProvider: (id: string) => import(id),
    onQuery: (sql: string) => {
      options.onQuery?.(sql);
      return sql;
    },
  });
}

export async function openOrm(options: OrmOptions): Promise<Orm> {
  return MikroORM.init(ormConfig(options));
}

/**
 * Closes the ORM and its connection pool. MikroORM 7.2's close() leaves the pg pool's idle
 * connections open until their idle timeout (10 s), so a command run against the database
 * lingered that long after its work before it exited.
 */
export async function closeOrm(orm: Orm): Promise<void> {
  const pool = (await orm.em.getConnection().getNativeClient()) as pg.Pool;
  await orm.close();
  if (!(pool as pg.Pool & { ended?: boolean }).ended) await pool.end();
}

/**
 * Applies pending migrations; safe to run on every start and from several instances at once.
 * On a pool of its own, without the service's statement timeout: a migration of a large table
 * may take longer than any request should.
 */
export async function migrate(databaseUrl: string, logger?: Logger): Promise<void> {
  await withMigrationLock(databaseUrl, logger, (orm) => orm.migrator.up());
}

/** Reverts the last applied migration (`npm run migrate -- down`), under the same lock. */
export async function migrateDown(databaseUrl: string, logger?: Logger): Promise<string | null> {
  return withMigrationLock(databaseUrl, logger, async (orm) => (await orm.migrator.down())[0]?.name ?? null);
}

async function withMigrationLock<T>(databaseUrl: string, logger: Logger | undefined, work: (orm: Orm) => Promise<T>): Promise<T> {
  // Two instances starting together must not both run the same migration. A session lock needs
  // one connection held throughout, which the ORM's pool does not promise.
  const lock = new pg.Client({ connectionString: databaseUrl });
  await lock.connect();
  const orm = await openOrm({ databaseUrl, poolSize: 2, ...(logger ? { logger } : {}) });
  try {
    await lock.query('select pg_advisory_lock($1)', [MIGRATION_LOCK]);
    return await work(orm);
  } finally {
    await closeOrm(orm);
    await lock.end();
  }
}

const MIGRATION_LOCK = 0x7061726c; // "parl"

