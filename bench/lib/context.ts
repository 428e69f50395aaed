import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parleyClient, type ParleyClient } from './clients.ts';
import { startChild, type Child } from './ipc.ts';
import type { BenchPostgres } from './postgres.ts';

export const BENCH_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const RESULTS_DIR = path.join(BENCH_DIR, 'results');
export const proc = (name: string) => path.join(BENCH_DIR, 'procs', `${name}.ts`);

export interface Context {
  quick: boolean;
  pg: BenchPostgres;
  emulator: Child;
  emulatorUrl: string;
  log(message: string): void;
}

export interface Parley {
  child: Child;
  port: number;
  client: ParleyClient;
  databaseName: string;
  databaseUrl: string;
}

export interface ParleyOptions {
  env?: Record<string, string>;
  execArgv?: string[];
}

/** Starts a Parley process on a fresh database, runs `body`, then stops it and drops the database. */
export async function withParley<T>(ctx: Context, options: ParleyOptions, body: (parley: Parley) => Promise<T>): Promise<T> {
  const database = await ctx.pg.createDatabase();
  let child: Child | null = null;
  try {
    child = await startChild('parley', proc('parley'), {
      env: {
        DATABASE_URL: database.url,
        ANTHROPIC_API_KEY: 'bench',
        ANTHROPIC_BASE_URL: ctx.emulatorUrl,
        PARLEY_DEFAULT_MAX_TOKENS: '128000',
        LOG_LEVEL: 'warn',
        ...options.env,
      },
      execArgv: ['--expose-gc', ...(options.execArgv ?? [])],
    });
    const port = child.ready.port as number;
    return await body({ child, port, client: parleyClient(port), databaseName: database.name, databaseUrl: database.url });
  } finally {
    await child?.stop();
    await ctx.pg.dropDatabase(database.name).catch(() => undefined);
  }
}
