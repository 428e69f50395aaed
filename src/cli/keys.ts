// `npm run keys -- create --tenant <name>` | `list` | `revoke <prefix>`: API keys, and
// `limits [--tenant <name> [--<limit> <value> ...] [--reset]]`: a tenant's budgets and limits;
// against the service's database (DATABASE_URL, or the embedded PostgreSQL under
// PARLEY_DATA_DIR, shared with a service running on it right now). `create` prints the new key
// as its last line.
import path from 'node:path';
import { parseArgs } from 'node:util';
import { parseLogLevel } from '../config.ts';
import { mergePolicy, parsePolicyJson, type TenantPolicy } from '../domain/tenant-policy.ts';
import { runningEmbeddedUrl, startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../store/embedded-postgres.ts';
import { createLogger } from '../logger.ts';
import { closeOrm, migrate, openOrm } from '../store/orm.ts';
import { openStores, type Stores } from '../store/stores.ts';
import { applyLimitFlags, describePolicy, LIMIT_FLAGS, type LimitFlag } from './limit-flags.ts';

const USAGE = `usage: npm run keys -- create --tenant <name> | list | revoke <prefix>
       npm run keys -- limits [--tenant <name> [--reset] ${Object.keys(LIMIT_FLAGS).map((flag) => `[--${flag} <n|none>]`).join(' ')}]`;
/** Tenant names go into logs and queries: keep them plain. */
const TENANT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

async function main(argv: string[]): Promise<number> {
  const limitOptions = Object.fromEntries(Object.keys(LIMIT_FLAGS).map((flag) => [flag, { type: 'string' as const }]));
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { tenant: { type: 'string' }, reset: { type: 'boolean' }, ...limitOptions },
  });
  const [command, ...rest] = positionals;
  if (command !== 'create' && command !== 'list' && command !== 'revoke' && command !== 'limits') return fail(USAGE);
  if ((command === 'create' || values.tenant !== undefined) && (values.tenant === undefined || !TENANT.test(values.tenant))) {
    return fail(`${command} needs --tenant <name>: letters, digits, ".", "_" or "-", at most 128, starting with a letter or digit`);
  }
  const limitFlags = Object.fromEntries(Object.keys(LIMIT_FLAGS).map((flag) => [flag, (values as Record<string, unknown>)[flag]])) as Partial<Record<LimitFlag, string>>;
  const changesLimits = values.reset === true || Object.values(limitFlags).some((value) => value !== undefined);
  if (changesLimits && (command !== 'limits' || values.tenant === undefined)) return fail('limit flags go with: limits --tenant <name>');
  const defaults = configuredLimits();
  if (typeof defaults === 'string') return fail(defaults);
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
  // Migration lines go to stderr: stdout is the command's answer (the key, as its last line).
  const logger = createLogger(parseLogLevel(process.env.LOG_LEVEL) ?? 'info');
  await migrate(databaseUrl, logger);
  const orm = await openOrm({ databaseUrl, poolSize: 2, logger });
  try {
    const stores = await openStores(orm);
    const { apiKeys } = stores;
    switch (command) {
      case 'limits':
        return await limits(stores, values.tenant, values.reset === true ? null : limitFlags, changesLimits, defaults);
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
    await closeOrm(orm);
    await embedded?.stop();
  }
}

/**
 * `limits`: every tenant's stored limits; with a tenant, its stored and effective limits
 * (stored over PARLEY_TENANT_LIMITS); with flags, changes them first (`flags` null: --reset).
 */
async function limits(
  stores: Stores,
  tenant: string | undefined,
  flags: Partial<Record<LimitFlag, string>> | null,
  changes: boolean,
  defaults: TenantPolicy,
): Promise<number> {
  if (tenant === undefined) {
    const stored = await stores.limitStore.policies();
    if (stored.length === 0) console.log('No tenant has limits of its own.');
    for (const entry of stored) console.log(`${entry.tenantId} (set ${entry.updatedAt.toISOString()}):\n${describePolicy(entry.policy)}`);
    console.log(`Every other tenant (PARLEY_TENANT_LIMITS):\n${describePolicy(defaults)}`);
    return 0;
  }
  let stored = (await stores.limitStore.policy(tenant)) ?? {};
  if (changes) {
    const changed = flags === null ? { policy: {} } : applyLimitFlags(stored, flags);
    if ('problem' in changed) return fail(changed.problem);
    stored = changed.policy;
    await stores.limitStore.setPolicy(tenant, stored);
    console.log(`Limits of ${tenant} saved: every instance applies them within PARLEY_AUTH_CACHE_MS (2 s by default).`);
  }
  console.log(`Stored for ${tenant}:\n${describePolicy(stored)}`);
  console.log(`In effect (over PARLEY_TENANT_LIMITS of this shell):\n${describePolicy(mergePolicy(defaults, stored))}`);
  return 0;
}

/** PARLEY_TENANT_LIMITS as the service reads it, or the problem with it. */
function configuredLimits(): TenantPolicy | string {
  const raw = process.env.PARLEY_TENANT_LIMITS?.trim();
  if (!raw) return {};
  const parsed = parsePolicyJson(raw, 'PARLEY_TENANT_LIMITS');
  return 'problems' in parsed ? parsed.problems.join('; ') : parsed.policy;
}

function fail(message: string): number {
  console.error(message);
  return 2;
}

process.exitCode = await main(process.argv.slice(2)).catch((error: unknown) => fail(error instanceof Error ? error.message : String(error)));
