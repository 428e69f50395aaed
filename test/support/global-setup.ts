// Starts one PostgreSQL for the whole run and prepares a migrated template database; each test
// file then clones its own database from the template (fast) so files run in parallel.
// Order of preference: DATABASE_URL, then Testcontainers when a Docker engine answers, then the
// embedded PostgreSQL.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres } from '../../src/store/embedded-postgres.ts';
import { migrate } from '../../src/store/orm.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** URL of a server database from which test databases are created. */
    postgresAdminUrl: string;
    /** Name of the migrated template database. */
    postgresTemplate: string;
  }
}

const TEMPLATE = 'parley_template';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const server = await startPostgres();
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  await admin.query(`drop database if exists ${TEMPLATE}`);
  await admin.query(`create database ${TEMPLATE}`);
  await admin.end();

  const templateUrl = withDatabase(server.url, TEMPLATE);
  await migrate(templateUrl);

  project.provide('postgresAdminUrl', server.url);
  project.provide('postgresTemplate', TEMPLATE);
  return server.stop;
}

export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

async function startPostgres(): Promise<{ url: string; stop: () => Promise<void> }> {
  if (process.env.DATABASE_URL) {
    console.log('tests: using DATABASE_URL');
    return { url: process.env.DATABASE_URL, stop: async () => {} };
  }
  if (await dockerAvailable()) {
    const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
    const container = await new PostgreSqlContainer('postgres:18-alpine').start();
    console.log('tests: using a PostgreSQL container (Testcontainers)');
    return { url: container.getConnectionUri(), stop: async () => void (await container.stop()) };
  }
  const dir = await mkdtemp(path.join(os.tmpdir(), 'parley-test-pg-'));
  const embedded = await startEmbeddedPostgres({ dataDir: path.join(dir, 'pg'), persistent: false, unsafeFast: true });
  console.log('tests: using the embedded PostgreSQL');
  return {
    url: embedded.url,
    stop: async () => {
      await embedded.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function dockerAvailable(): Promise<boolean> {
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await getContainerRuntimeClient();
    return true;
  } catch {
    return false;
  }
}
