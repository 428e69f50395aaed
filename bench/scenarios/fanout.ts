/**
 * c. Fan-out: one conversation, S grpc-js subscribers (100 per HTTP/2 connection), one reply
 *    paced at 80 tokens/s. Delivered deltas per second over all subscribers, the emit → receipt
 *    delay, and the Parley process's memory per open subscription.
 */
import { createConversation, inBatches, sendMessage, SubscriberPool } from '../lib/clients.ts';
import { now, sleep, withTimeout } from '../lib/clock.ts';
import path from 'node:path';
import { RESULTS_DIR, withParley, type Context } from '../lib/context.ts';
import { warmUp } from '../lib/load.ts';
import { processCpuMs } from '../lib/machine.ts';
import { specText, stampsIn } from '../lib/reply-spec.ts';
import { median, Samples, type Summary } from '../lib/stats.ts';
import { watch, type Watch } from '../lib/watch.ts';

export interface FanoutRun {
  subscribers: number;
  /** BlockDelta events received, summed over subscribers, per second of streaming. */
  deliveredDeltasPerSecond: number;
  deliveredTokensPerSecond: number;
  deltasPerSubscriber: number;
  delayMs: Summary;
  deliveredFraction: number;
  /** Time to open every subscription (Subscribe → snapshot). */
  subscribeSeconds: number;
  /** (heap after opening − heap before) / S, after a full GC; and the same for RSS. */
  heapBytesPerSubscriber: number;
  rssBytesPerSubscriber: number;
  parleyCpuPct: number;
  loadGeneratorCpuPct: number;
  /** SELECTs Parley ran while the reply streamed (subscribers catching up from the event table). */
  selectStatements: number;
  parleyEventLoopDelayMs: { p50: number; p99: number; max: number };
  failedStreams: number;
}

export interface FanoutStep {
  subscribers: number;
  runs: FanoutRun[];
  deliveredDeltasPerSecond: number;
  heapBytesPerSubscriber: number;
  p50Ms: number;
  p99Ms: number;
}

export interface FanoutResult {
  tokensPerReply: number;
  tokensPerSecond: number;
  flushMs: number;
  requested: number[];
  steps: FanoutStep[];
  notes: string[];
}

const TPS = 80;

interface Memory {
  heapUsed: number;
  rss: number;
}

async function fanoutRun(ctx: Context, subscribers: number, tokens: number): Promise<FanoutRun> {
  // The default subscriber limit (1,000 per conversation and instance) would refuse most of S = 5,000.
  return withParley(ctx, { env: { PARLEY_SUBSCRIBER_BUFFER_EVENTS: '100000', PARLEY_MAX_SUBSCRIBERS_PER_CONVERSATION: '1000000' } }, async (parley) => {
    await warmUp(parley, 10, 100);
    const conversationId = await createConversation(parley.client);
    const pool = new SubscriberPool(parley.port, 100);
    const delays = new Samples();
    const before = await parley.child.request<Memory>('memory', { gc: true });
    const opening = now();
    const watches: Watch[] = [];
    try {
      await inBatches(
        Array.from({ length: subscribers }, (_, i) => i),
        50,
        async () => {
          const w = watch(pool, conversationId, (text, at) => {
            for (const emittedAt of stampsIn(text)) delays.push(at - emittedAt);
          });
          watches.push(w);
          await withTimeout(w.snapshot, 120_000, 'snapshot');
        },
      );
      const subscribeSeconds = (now() - opening) / 1000;
      await sleep(200);
      const after = await parley.child.request<Memory>('memory', { gc: true });
      const cpu0 = processCpuMs(parley.child.pid) ?? 0;
      const self0 = process.cpuUsage();
      const statements0 = await parley.child.request<Record<string, number>>('statements');
      const profile = process.env.BENCH_PROFILE_FANOUT === '1';
      if (profile) await parley.child.request('profileStart');
      await parley.child.request('eventLoopStart');
      const started = now();
      await sendMessage(parley.client, conversationId, specText({ tokens, tokensPerSecond: TPS, stamped: true }));
      const limitMs = (tokens / TPS) * 1000 + 30_000;
      await Promise.race([Promise.all(watches.map((w) => w.done)), sleep(limitMs)]);
      const lastReceipt = Math.max(...watches.map((w) => w.stats.lastDeltaAt ?? 0));
      const firstReceipt = Math.min(...watches.map((w) => w.stats.firstDeltaAt ?? Infinity));
      const seconds = (Math.max(lastReceipt, firstReceipt) - Math.min(firstReceipt, started)) / 1000 || Number.NaN;
      const cpuMs = (processCpuMs(parley.child.pid) ?? 0) - cpu0;
      const eventLoopDelayMs = await parley.child.request<FanoutRun['parleyEventLoopDelayMs']>('eventLoopStop');
      if (profile) await parley.child.request('profileStop', { file: path.join(RESULTS_DIR, `parley-fanout-${subscribers}.cpuprofile`) });
      const selfCpu = process.cpuUsage(self0);
      const statements1 = await parley.child.request<Record<string, number>>('statements');
      const selects = (statements1.select ?? 0) - (statements0.select ?? 0);
      const deltas = watches.reduce((sum, w) => sum + w.stats.deltas, 0);
      return {
        subscribers,
        deliveredDeltasPerSecond: deltas / seconds,
        deliveredTokensPerSecond: delays.length / seconds,
        deltasPerSubscriber: deltas / subscribers,
        delayMs: delays.summary(),
        deliveredFraction: delays.length / (tokens * subscribers),
        subscribeSeconds: Math.round(subscribeSeconds * 10) / 10,
        heapBytesPerSubscriber: Math.round((after.heapUsed - before.heapUsed) / subscribers),
        rssBytesPerSubscriber: Math.round((after.rss - before.rss) / subscribers),
        parleyCpuPct: Math.round((cpuMs / ((now() - started) || 1)) * 1000) / 10,
        loadGeneratorCpuPct: Math.round(((selfCpu.user + selfCpu.system) / 1000 / ((now() - started) || 1)) * 1000) / 10,
        selectStatements: selects,
        parleyEventLoopDelayMs: eventLoopDelayMs,
        failedStreams: watches.filter((w) => w.stats.error !== null).length,
      };
    } finally {
      for (const w of watches) w.stream.cancel();
      pool.close();
    }
  });
}

export async function fanout(ctx: Context): Promise<FanoutResult> {
  const requested = ctx.quick ? [100, 1000] : [100, 1000, 5000];
  const tokens = ctx.quick ? 160 : 400;
  const runs = ctx.quick ? 1 : 2;
  ctx.log(`c. fan-out: S in ${requested.join(', ')}, one reply of ${tokens} tokens at ${TPS} tokens/s, ${runs} run(s) each`);
  const steps: FanoutStep[] = [];
  const notes: string[] = ['PARLEY_DELTA_FLUSH_MS=50 (the default); PARLEY_SUBSCRIBER_BUFFER_EVENTS=100000 so that no slow subscriber is cut off; PARLEY_MAX_SUBSCRIBERS_PER_CONVERSATION=1000000 so that none is refused.'];
  for (const subscribers of requested) {
    const results: FanoutRun[] = [];
    for (let run = 0; run < runs; run++) {
      const r = await fanoutRun(ctx, subscribers, tokens);
      results.push(r);
      ctx.log(
        `  S=${subscribers} run ${run + 1}: ${Math.round(r.deliveredDeltasPerSecond)} deltas/s delivered, ` +
          `${Math.round(r.deliveredTokensPerSecond)} tokens/s, p50 ${r.delayMs.p50.toFixed(1)} ms, p99 ${r.delayMs.p99.toFixed(1)} ms, ` +
          `delivered ${(r.deliveredFraction * 100).toFixed(1)}%, heap ${Math.round(r.heapBytesPerSubscriber / 1024)} KiB/sub, ` +
          `RSS ${Math.round(r.rssBytesPerSubscriber / 1024)} KiB/sub, open ${r.subscribeSeconds} s, CPU parley ${r.parleyCpuPct}% load ${r.loadGeneratorCpuPct}%, ${r.selectStatements} selects, loop delay p99 ${r.parleyEventLoopDelayMs.p99} ms` +
          (r.failedStreams ? `, ${r.failedStreams} streams failed` : ''),
      );
      // A clear overload need not be repeated.
      if (r.deliveredFraction < 0.9 || r.delayMs.p99 > 1_000) break;
    }
    steps.push({
      subscribers,
      runs: results,
      deliveredDeltasPerSecond: median(results.map((r) => r.deliveredDeltasPerSecond)),
      heapBytesPerSubscriber: median(results.map((r) => r.heapBytesPerSubscriber)),
      p50Ms: median(results.map((r) => r.delayMs.p50)),
      p99Ms: median(results.map((r) => r.delayMs.p99)),
    });
  }
  return { tokensPerReply: tokens, tokensPerSecond: TPS, flushMs: 50, requested, steps, notes };
}
