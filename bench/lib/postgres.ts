import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../../src/store/embedded-postgres.ts';

export interface BenchPostgres {
  adminUrl: string;
  /** PID of the postmaster (its backends are its children). */
  pid: number;
  /** A fresh, empty database; Parley migrates it on start. */
  createDatabase(): Promise<{ name: string; url: string }>;
  dropDatabase(name: string): Promise<void>;
  query<T extends pg.QueryResultRow>(sql: string, params?: unknown[], url?: string): Promise<T[]>;
  stop(): Promise<void>;
}

/**
 * One throwaway PostgreSQL for the whole run, under the OS temp dir, with fsync and synchronous
 * commit off (as the tests run it): write figures are therefore a lower bound for a durable
 * production database.
 */
export async function startBenchPostgres(): Promise<BenchPostgres> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'parley-bench-'));
  await chmod(root, 0o755);
  const dataDir = path.join(root, 'pg');
  const handle: EmbeddedPostgresHandle = await startEmbeddedPostgres({ dataDir, persistent: false, unsafeFast: true });
  const pidText = await readFile(path.join(dataDir, 'postmaster.pid'), 'utf8');
  const pid = Number.parseInt(pidText.split('\n')[0] ?? '', 10);
  const adminUrl = handle.url;
  const urlFor = (name: string) => {
    const url = new URL(adminUrl);
    url.pathname = `/${name}`;
    return url.toString();
  };
  const query = async <T extends pg.QueryResultRow>(sql: string, params: unknown[] = [], url = adminUrl): Promise<T[]> => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      return (await client.query<T>(sql, params)).rows;
    } finally {
      await client.end();
    }
  };
  return {
    adminUrl,
    pid,
    query,
    async createDatabase() {
      const name = `bench_${randomBytes(5).toString('hex')}`;
      await query(`create database ${name}`);
      return { name, url: urlFor(name) };
    },
    async dropDatabase(name) {
      await query(`drop database if exists ${name} with (force)`);
    },
    async stop() {
      await handle.stop();
      await rm(root, { recursive: true, force: true });
    },
  };
}

/** Current WAL insert position, in bytes. */
export async function walPosition(db: BenchPostgres): Promise<bigint> {
  const [row] = await db.query<{ lsn: string }>(`select pg_current_wal_insert_lsn() - '0/0'::pg_lsn as lsn`);
  return BigInt(row!.lsn);
}

/** Total size (heap + indexes + TOAST) of each table of a database. */
export async function tableSizes(db: BenchPostgres, url: string): Promise<Record<string, number>> {
  const rows = await db.query<{ name: string; bytes: string }>(
    `select c.relname as name, pg_total_relation_size(c.oid) as bytes
     from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where c.relkind = 'r' and n.nspname = 'public'`,
    [],
    url,
  );
  return Object.fromEntries(rows.map((r) => [r.name, Number(r.bytes)]));
}
