// `npm run migrate`: applies pending migrations to DATABASE_URL (or the embedded database).
// `npm run migration:create`: writes a new migration from the difference between the entities
// and a freshly migrated scratch database; review it before committing.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startEmbeddedPostgres } from './embedded-postgres.ts';
import { migrate, openOrm } from './orm.ts';

const command = process.argv[2] ?? 'up';

if (command === 'up') {
  const dataDir = path.resolve(process.env.PARLEY_DATA_DIR ?? '.parley', 'pg');
  const embedded = process.env.DATABASE_URL ? null : await startEmbeddedPostgres({ dataDir, persistent: true });
  const databaseUrl = process.env.DATABASE_URL ?? embedded!.url;
  const orm = await openOrm({ databaseUrl });
  await migrate(orm, databaseUrl);
  const executed = await orm.migrator.getExecuted();
  console.log(`Database is at migration ${executed.at(-1)?.name ?? '(none)'}`);
  await orm.close();
  await embedded?.stop();
} else if (command === 'create') {
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'parley-migration-'));
  const embedded = await startEmbeddedPostgres({ dataDir: path.join(scratch, 'pg'), persistent: false, unsafeFast: true });
  try {
    const orm = await openOrm({ databaseUrl: embedded.url });
    await migrate(orm, embedded.url);
    const result = await orm.migrator.create(undefined, false, false, process.argv[3]);
    console.log(result.fileName ? `Wrote migrations/${result.fileName}` : 'No schema changes: nothing written');
    await orm.close();
  } finally {
    await embedded.stop();
    await rm(scratch, { recursive: true, force: true });
  }
} else {
  console.error(`Unknown command "${command}". Use "up" (default) or "create [name]".`);
  process.exitCode = 2;
}
