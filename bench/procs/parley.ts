/**
 * The real Parley service (createApp, as src/main.ts builds it) in its own process, so that its
 * CPU and memory can be measured apart from the load generator and the emulator. Configuration
 * comes from the environment the orchestrator passes; SQL statements are counted via onQuery (MikroORM passes
 * it every statement it executes; BEGIN/COMMIT are not among them).
 */
import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { monitorEventLoopDelay, type ELDHistogram } from 'node:perf_hooks';
import { createApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { announceReady, serveParent } from '../lib/ipc.ts';

const statements: Record<string, number> = {};

function kind(sql: string): string {
  const word = /^\s*(\w+)/.exec(sql)?.[1]?.toLowerCase() ?? 'other';
  return ['select', 'insert', 'update', 'delete', 'begin', 'commit', 'rollback', 'with', 'savepoint', 'release'].includes(word) ? word : 'other';
}

const config = loadConfig({ LOG_LEVEL: 'warn', ...process.env, PORT: '0', HOST: '127.0.0.1' });
const app = await createApp(config, {
  onQuery: (sql) => {
    const k = kind(sql);
    statements[k] = (statements[k] ?? 0) + 1;
  },
});
const port = await app.listen();

const gc = (globalThis as { gc?: () => void }).gc;

// The V8 CPU profiler (what `node --cpu-prof` writes), started and stopped on request so that
// start-up and migrations stay out of the profile.
let profiler: Session | null = null;
let loopDelay: ELDHistogram | null = null;

serveParent(
  {
    statements: () => ({ ...statements }),
    memory: (payload) => {
      if (payload.gc && gc) {
        gc();
        gc();
      }
      return { ...process.memoryUsage(), gcAvailable: gc !== undefined };
    },
    subscribers: () => app.hub.subscriberCount,
    /** Event-loop delay between `eventLoopStart` and `eventLoopStop`, in ms. */
    eventLoopStart: () => {
      loopDelay?.disable();
      loopDelay = monitorEventLoopDelay({ resolution: 10 });
      loopDelay.enable();
      return true;
    },
    eventLoopStop: () => {
      if (!loopDelay) throw new Error('eventLoopStart was not called');
      loopDelay.disable();
      const ms = (ns: number) => Math.round(ns / 1e4) / 100;
      const result = { p50: ms(loopDelay.percentile(50)), p99: ms(loopDelay.percentile(99)), max: ms(loopDelay.max) };
      loopDelay = null;
      return result;
    },
    profileStart: async () => {
      profiler = new Session();
      profiler.connect();
      await profiler.post('Profiler.enable');
      await profiler.post('Profiler.setSamplingInterval', { interval: 500 });
      await profiler.post('Profiler.start');
      return true;
    },
    profileStop: async (payload) => {
      if (!profiler) throw new Error('the profiler was not started');
      const { profile } = await profiler.post('Profiler.stop');
      profiler.disconnect();
      profiler = null;
      await writeFile(String(payload.file), JSON.stringify(profile));
      return true;
    },
  },
  () => app.close(),
);
announceReady({ port, deltaFlushMs: config.deltaFlushMs });
