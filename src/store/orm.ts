import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Migrator } from '@mikro-orm/migrations';
import { MikroORM, defineConfig } from '@mikro-orm/postgresql';
import pg from 'pg';
import { entities } from './entities/index.ts';
import { guardPool } from './pool-guard.ts';

export type Orm = MikroORM;

const MIGRATIONS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../migrations');

export interface OrmOptions {
  databaseUrl: string;
  /** Connection pool size per instance. */
  poolSize?: number;
  debug?: boolean;
  onQuery?: ((sql: string) => void) | undefined;
}

function ormConfig(options: OrmOptions) {
  return defineConfig({
    clientUrl: options.databaseUrl,
    entities,
    extensions: [Migrator],
    pool: { max: options.poolSize ?? 10 },
    driverOptions: { onPoolCreated: guardPool },
    debug: options.debug ?? false,
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

/** Applies pending migrations; safe to run on every start and from several instances at once. */
export async function migrate(orm: Orm, databaseUrl: string): Promise<void> {
  // Two instances starting together must not both run the same migration. A session lock needs
  // one connection held throughout, which the ORM's pool does not promise.
  const lock = new pg.Client({ connectionString: databaseUrl });
  await lock.connect();
  try {
    await lock.query('select pg_advisory_lock($1)', [MIGRATION_LOCK]);
    await orm.migrator.up();
  } finally {
    await lock.end();
  }
}

const MIGRATION_LOCK = 0x7061726c; // "parl"

