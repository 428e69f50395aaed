// A PostgreSQL that a test can stop and start again on the same port, with its data kept:
// startEmbeddedPostgres with a fixed port and persistent data, started again after each stop.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort, startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../../../src/store/embedded-postgres.ts';

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
  const dataDir = path.join(dir, 'pg');
  const port = await freePort();
  const start = () => startEmbeddedPostgres({ dataDir, port, persistent: true, unsafeFast: true });
  let handle: EmbeddedPostgresHandle | null = await start();
  const url = handle.url;
  return {
    url,
    port,
    get running() {
      return handle !== null;
    },
    async stop() {
      await handle?.stop();
      handle = null;
    },
    async start() {
      handle ??= await start();
    },
    async destroy() {
      await handle?.stop();
      handle = null;
      await rm(dir, { recursive: true, force: true });
    },
  };
}
