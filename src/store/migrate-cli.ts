// `npm run migrate`: applies pending migrations to DATABASE_URL (or the embedded database);
// `npm run migrate -- down` reverts the last one applied (stop every instance first).
// `npm run migration:create`: writes a new migration from the difference between the entities
// and a freshly migrated scratch database; review it before committing.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseLogLevel } from '../config.ts';
import { createLogger } from '../logger.ts';
import { startEmbeddedPostgres } from './embedded-postgres.ts';
import { closeOrm, migrate, migrateDown, openOrm } from './orm.ts';

const command = process.argv[2] ?? 'up';
// The service's log format and LOG_LEVEL: each migration applied is a line at info, on stderr.
const logger = createLogger(parseLogLevel(process.env.LOG_LEVEL) ?? 'info');

if (command === 'up' || command === 'down') {
  const dataDir = path.resolve(process.env.PARLEY_DATA_DIR ?? '.parley', 'pg');
  const embedded = process.env.DATABASE_URL ? null : await startEmbeddedPostgres({ dataDir, persistent: true });
  const databaseUrl = process.env.DATABASE_URL ?? embedded!.url;
  try {
    if (command === 'up') await migrate(databaseUrl, logger);
    else console.log(`Reverted ${(await migrateDown(databaseUrl, logger)) ?? 'nothing: no migration is applied'}`);
    const orm = await openOrm({ databaseUrl, logger });
    const executed = await orm.migrator.getExecuted();
    console.log(`Database is at migration ${executed.at(-1)?.name ?? '(none)'}`);
    await closeOrm(orm);
  } finally {
    await embedded?.stop();
  }
} else if (command === 'create') {
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'parley-migration-'));
  const embedded = await startEmbeddedPostgres({ dataDir: path.join(scratch, 'pg'), persistent: false, unsafeFast: true });
  try {
    await migrate(embedded.url, logger);
    const orm = await openOrm({ databaseUrl: embedded.url, logger });
    const result = await orm.migrator.create(undefined, false, false, process.argv[3]);
    console.log(result.fileName ? `Wrote migrations/${result.fileName}` : 'No schema changes: nothing written');
    await closeOrm(orm);
  } finally {
    await embedded.stop();
    await rm(scratch, { recursive: true, force: true });
  }
} else {
  console.error(`Unknown command "${command}". Use "up" (default), "down" or "create [name]".`);
  process.exitCode = 2;
}
