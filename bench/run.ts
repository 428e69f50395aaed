/**
 * `npm run bench`: every scenario, figures to bench/results/latest.{json,md}.
 *   BENCH_QUICK=1        a smoke run of ~1–2 minutes (smaller counts, fewer runs)
 *   BENCH_ONLY=a,c       only these scenarios (a–i)
 *   BENCH_VERBOSE=1      show the child processes' stderr
 * Everything listens on 127.0.0.1 only; every load loop has a fixed count and a time limit.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { now } from './lib/clock.ts';
import { proc, RESULTS_DIR, type Context } from './lib/context.ts';
import { startChild, type Child } from './lib/ipc.ts';
import { loadAverage, machine } from './lib/machine.ts';
import { startBenchPostgres, type BenchPostgres } from './lib/postgres.ts';
import { renderMarkdown, type BenchResults } from './lib/report.ts';
import { throughput } from './scenarios/throughput.ts';
import { concurrency } from './scenarios/concurrency.ts';
import { fanout } from './scenarios/fanout.ts';
import { firstToken } from './scenarios/first-token.ts';
import { storage } from './scenarios/storage.ts';
import { peers } from './scenarios/peers.ts';
import { auth } from './scenarios/auth.ts';
import { observability } from './scenarios/observability.ts';
import { longHistory } from './scenarios/long-history.ts';

const quick = process.env.BENCH_QUICK === '1' || process.env.BENCH_QUICK === 'true';
const only = new Set((process.env.BENCH_ONLY ?? 'a,b,c,d,e,f,g,h,i').split(',').map((s) => s.trim().toLowerCase()));
const startedAt = now();
process.env.BENCH_EPOCH = String(Math.floor(startedAt));
const log = (message: string) => console.log(`[${((now() - startedAt) / 1000).toFixed(1).padStart(6)}s] ${message}`);

const results: BenchResults = {
  startedAt: new Date().toISOString(),
  mode: quick ? 'quick' : 'full',
  machine: machine(),
  durationSeconds: 0,
  scenarios: {},
  errors: {},
};

let pg: BenchPostgres | null = null;
let emulator: Child | null = null;
// A hard stop for the whole run, whatever happens: children exit with their parent.
const deadline = setTimeout(() => {
  console.error('bench: the run exceeded its time limit; stopping');
  process.exit(2);
}, (quick ? 10 : 30) * 60_000);
deadline.unref();

try {
  await mkdir(RESULTS_DIR, { recursive: true });
  log(`machine: ${results.machine.cpuModel}, ${results.machine.cores} cores, ${results.machine.memoryGiB} GiB, Node ${results.machine.node}; mode ${results.mode}`);
  pg = await startBenchPostgres();
  emulator = await startChild('emulator', proc('emulator'));
  const ctx: Context = { quick, pg, emulator, emulatorUrl: emulator.ready.url as string, log };
  const scenarios = [
    ['a', 'throughput', throughput],
    ['b', 'concurrency', concurrency],
    ['c', 'fanout', fanout],
    ['d', 'firstToken', firstToken],
    ['e', 'storage', storage],
    ['f', 'peers', peers],
    ['g', 'auth', auth],
    ['h', 'observability', observability],
    ['i', 'longHistory', longHistory],
  ] as const;
  for (const [letter, name, run] of scenarios) {
    if (!only.has(letter)) continue;
    const t = now();
    try {
      (results.scenarios as Record<string, unknown>)[name] = await run(ctx);
    } catch (error) {
      const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
      results.errors[name] = message;
      log(`${letter}. ${name} FAILED: ${message}`);
    }
    log(`${letter}. ${name}: ${((now() - t) / 1000).toFixed(1)} s`);
  }
} finally {
  await emulator?.stop();
  await pg?.stop();
}

results.durationSeconds = Math.round((now() - startedAt) / 100) / 10;
results.machine.loadAverageAtEnd = loadAverage();
const markdown = renderMarkdown(results);
await writeFile(path.join(RESULTS_DIR, 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);
await writeFile(path.join(RESULTS_DIR, 'latest.md'), markdown);
console.log(`\n${markdown}`);
log(`wrote ${path.relative(process.cwd(), path.join(RESULTS_DIR, 'latest.md'))} and latest.json`);
process.exit(Object.keys(results.errors).length > 0 ? 1 : 0);
