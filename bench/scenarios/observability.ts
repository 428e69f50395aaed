/**
 * h. The cost of metrics and traces. Two Parley processes at once, on one machine and one
 *    emulator: one with /metrics off and no tracing, one with /metrics scraped every second and
 *    every span exported (sampling at 100 %, OTLP/HTTP to a local collector stub, batches every
 *    500 ms). The measurements alternate between the two, round by round, so that both see the
 *    same load on the machine:
 *    - SendMessage → first token added by Parley (as in d);
 *    - one reply of N tokens at full speed: deltas/s and tokens/s, and Parley's CPU per 1,000
 *      tokens.
 *    Both at flush 1 ms, where per-event work shows most.
 */
import { createConversation, sendMessage, SubscriberPool } from '../lib/clients.ts';
import { now, sleep, withTimeout } from '../lib/clock.ts';
import { withParley, type Context, type Parley } from '../lib/context.ts';
import { summarizeFirstTokens, type FirstTokenSample, type FirstTokenSummary } from '../lib/first-token.ts';
import { warmUp } from '../lib/load.ts';
import { processCpuMs } from '../lib/machine.ts';
import { startOtlpCollector } from '../lib/otlp-collector.ts';
import { specText, WORD_CHARS } from '../lib/reply-spec.ts';
import { spread, type Spread } from '../lib/stats.ts';
import { watch } from '../lib/watch.ts';
import { probes } from './first-token.ts';

export interface ObservabilitySide {
  firstToken: FirstTokenSummary;
  deltasPerSecond: Spread;
  tokensPerSecond: Spread;
  parleyCpuMsPer1kTokens: Spread;
}

export interface ObservabilityResult {
  tokens: number;
  rounds: number;
  off: ObservabilitySide;
  on: ObservabilitySide;
  /** What reached the collector stub, and how often /metrics was read. */
  exported: { exports: number; bytes: number; scrapes: number };
  /** on / off − 1, in per cent: positive is slower (or, for CPU, more). */
  differencePercent: { firstTokenP50: number; firstTokenP99: number; deltasPerSecond: number; tokensPerSecond: number; cpuPer1kTokens: number };
}

interface FullSpeed {
  deltasPerSecond: number;
  tokensPerSecond: number;
  cpuMsPer1kTokens: number;
}

async function fullSpeedReply(parley: Parley, pool: SubscriberPool, tokens: number): Promise<FullSpeed> {
  const conversationId = await createConversation(parley.client);
  const w = watch(pool, conversationId);
  try {
    await withTimeout(w.snapshot, 30_000, 'snapshot');
    const cpuBefore = processCpuMs(parley.child.pid) ?? 0;
    const started = now();
    await sendMessage(parley.client, conversationId, specText({ tokens, tokensPerSecond: 0, stamped: false }));
    const outcome = await withTimeout(w.done, 300_000, `reply of ${tokens} tokens`);
    const cpuMs = (processCpuMs(parley.child.pid) ?? 0) - cpuBefore;
    const received = w.stats.chars / WORD_CHARS;
    if (outcome !== 'finished' || received !== tokens) throw new Error(`reply ${outcome} with ${received} of ${tokens} tokens (${w.stats.error ?? ''})`);
    const seconds = ((w.stats.lastDeltaAt ?? now()) - started) / 1000;
    return { deltasPerSecond: w.stats.deltas / seconds, tokensPerSecond: tokens / seconds, cpuMsPer1kTokens: (cpuMs / tokens) * 1000 };
  } finally {
    w.stream.cancel();
  }
}

const percent = (on: number, off: number) => Math.round((on / off - 1) * 1000) / 10;

export async function observability(ctx: Context): Promise<ObservabilityResult> {
  const rounds = ctx.quick ? 4 : 10;
  const probesPerRound = ctx.quick ? 10 : 20;
  const tokens = ctx.quick ? 3_000 : 10_000;
  const collector = await startOtlpCollector();
  const base = { PARLEY_DELTA_FLUSH_MS: '1', PARLEY_MAX_CONCURRENT_PROMPTS: '256' };
  const offEnv = { ...base, PARLEY_METRICS_PORT: 'off' };
  const onEnv = {
    ...base,
    OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
    OTEL_TRACES_SAMPLER: 'always_on',
    OTEL_BSP_SCHEDULE_DELAY: '500',
    OTEL_SERVICE_NAME: 'parley-bench',
  };
  let scrapes = 0;
  try {
    return await withParley(ctx, { env: offEnv }, (off) =>
      withParley(ctx, { env: onEnv }, async (on) => {
        // Every second, as an eager Prometheus would (15 s is the usual interval).
        const scraper = setInterval(() => {
          fetch(`http://127.0.0.1:${on.port}/metrics`).then(
            async (response) => {
              await response.arrayBuffer();
              scrapes += 1;
            },
            () => undefined,
          );
        }, 1_000);
        const sides = [off, on] as const;
        const firstTokens: [FirstTokenSample[], FirstTokenSample[]] = [[], []];
        const fullSpeed: [FullSpeed[], FullSpeed[]] = [[], []];
        const pools = sides.map((parley) => new SubscriberPool(parley.port));
        try {
          for (const parley of sides) await warmUp(parley);
          for (const [i, parley] of sides.entries()) await fullSpeedReply(parley, pools[i]!, tokens); // warm-up, not counted
          for (let round = 0; round < rounds; round++) {
            // Which side goes first alternates too: neither always follows the other's load.
            const order = round % 2 === 0 ? [0, 1] : [1, 0];
            for (const i of order) firstTokens[i]!.push(...(await probes(sides[i]!, probesPerRound, 20)));
            for (const i of order) fullSpeed[i]!.push(await fullSpeedReply(sides[i]!, pools[i]!, tokens));
            const line = (i: number) => {
              const last = fullSpeed[i]!.at(-1)!;
              return `${Math.round(last.deltasPerSecond)} deltas/s, ${Math.round(last.tokensPerSecond)} tokens/s`;
            };
            ctx.log(`  round ${round}: off ${line(0)}; on ${line(1)}`);
          }
        } finally {
          clearInterval(scraper);
          for (const pool of pools) pool.close();
        }
        // The last batch leaves within OTEL_BSP_SCHEDULE_DELAY.
        await sleep(1_000);
        const side = (i: 0 | 1): ObservabilitySide => ({
          firstToken: summarizeFirstTokens(firstTokens[i]),
          deltasPerSecond: spread(fullSpeed[i].map((r) => r.deltasPerSecond)),
          tokensPerSecond: spread(fullSpeed[i].map((r) => r.tokensPerSecond)),
          parleyCpuMsPer1kTokens: spread(fullSpeed[i].map((r) => r.cpuMsPer1kTokens)),
        });
        const [offSide, onSide] = [side(0), side(1)];
        const result: ObservabilityResult = {
          tokens,
          rounds,
          off: offSide,
          on: onSide,
          exported: { ...collector.stats, scrapes },
          differencePercent: {
            firstTokenP50: percent(onSide.firstToken.addedMs.p50, offSide.firstToken.addedMs.p50),
            firstTokenP99: percent(onSide.firstToken.addedMs.p99, offSide.firstToken.addedMs.p99),
            deltasPerSecond: percent(onSide.deltasPerSecond.median, offSide.deltasPerSecond.median),
            tokensPerSecond: percent(onSide.tokensPerSecond.median, offSide.tokensPerSecond.median),
            cpuPer1kTokens: percent(onSide.parleyCpuMsPer1kTokens.median, offSide.parleyCpuMsPer1kTokens.median),
          },
        };
        const d = result.differencePercent;
        ctx.log(
          `  first token added p50 off ${offSide.firstToken.addedMs.p50.toFixed(1)} ms, on ${onSide.firstToken.addedMs.p50.toFixed(1)} ms (${d.firstTokenP50} %); ` +
            `deltas/s ${d.deltasPerSecond} %, tokens/s ${d.tokensPerSecond} %, CPU per 1k tokens ${d.cpuPer1kTokens} %; ` +
            `${collector.stats.exports} exports, ${collector.stats.bytes} bytes, ${scrapes} scrapes`,
        );
        if (collector.stats.exports === 0) throw new Error('no span reached the collector: tracing was not on');
        return result;
      }),
    );
  } finally {
    await collector.close();
  }
}
