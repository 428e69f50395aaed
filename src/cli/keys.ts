// `npm run keys -- create --tenant <name>` | `list` | `revoke <prefix>`: API keys, against the
// service's database (DATABASE_URL, or the embedded PostgreSQL under PARLEY_DATA_DIR, shared
// with a service running on it right now). `create` prints the new key as its last line.
import path from 'node:path';
import { parseArgs } from 'node:util';
import { runningEmbeddedUrl, startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../store/embedded-postgres.ts';
import { migrate, openOrm } from '../store/orm.ts';
import { openStores } from '../store/stores.ts';

const USAGE = 'usage: npm run keys -- create --tenant <name> | list | revoke <prefix>';
/** Tenant names go into logs and queries: keep them plain. */
const TENANT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({ args: argv, allowPositionals: true, options: { tenant: { type: 'string' } } });
  const [command, ...rest] = positionals;
  if (command !== 'create' && command !== 'list' && command !== 'revoke') return fail(USAGE);
  if (command === 'create' && (values.tenant === undefined || !TENANT.test(values.tenant))) {
    return fail('create needs --tenant <name>: letters, digits, ".", "_" or "-", at most 128, starting with a letter or digit');
  }
  if (command === 'revoke' && rest.length !== 1) return fail('revoke needs the prefix of the key, as `list` shows it');

  let embedded: EmbeddedPostgresHandle | null = null;
  let databaseUrl = process.env.DATABASE_URL?.trim() || null;
  if (databaseUrl === null) {
    const dataDir = path.resolve(process.env.PARLEY_DATA_DIR?.trim() || '.parley', 'pg');
    databaseUrl = await runningEmbeddedUrl(dataDir);
    if (databaseUrl === null) {
      embedded = await startEmbeddedPostgres({ dataDir, persistent: true });
      databaseUrl = embedded.url;
    }
  }
  const orm = await openOrm({ databaseUrl, poolSize: 2 });
  try {
    await migrate(orm, databaseUrl);
    const { apiKeys } = await openStores(orm);
    switch (command) {
      case 'create': {
        const created = await apiKeys.create(values.tenant!);
        console.log(`Created key ${created.prefix} for tenant ${created.tenantId}. It is shown once; store it now:`);
        console.log(created.key);
        return 0;
      }
      case 'list': {
        const keys = await apiKeys.list();
        if (keys.length === 0) console.log('No API keys: a service on loopback runs open.');
        for (const key of keys) {
          console.log(`${key.prefix}  ${key.tenantId}  created ${key.createdAt.toISOString()}  ${key.revokedAt ? `revoked ${key.revokedAt.toISOString()}` : 'active'}`);
        }
        return 0;
      }
      default: {
        // revoke: the only command left.
        const prefix = rest[0]!;
        if (!(await apiKeys.revoke(prefix))) return fail(`No active key has the prefix ${prefix}.`);
        console.log(`Revoked key ${prefix}: every instance refuses it within PARLEY_AUTH_CACHE_MS (2 s by default).`);
        return 0;
      }
    }
  } finally {
    await orm.close();
    await embedded?.stop();
  }
}

function fail(message: string): number {
  console.error(message);
  return 2;
}

process.exitCode = await main(process.argv.slice(2)).catch((error: unknown) => fail(error instanceof Error ? error.message : String(error)));
