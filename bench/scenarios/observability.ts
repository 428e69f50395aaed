/**
 * h. The cost of metrics and traces. Two Parley processes at once, on one machine and one
 *    emulator: one with /metrics off and no tracing, one with /metrics scraped every second and
 *    every span exported (sampling at 100 %, OTLP/HTTP to a local collector stub, batches every
 *    500 ms). The measurements alternate between the two, round by round, so that both see the
 *    same load on the machine:
 *    - SendMessage → first token added by Parley (as in d);
 *    - one reply paced at 2,000 tokens/s: deltas/s at the subscriber, emit → receipt delay per
 *      token, and Parley's CPU per 1,000 tokens;
 *    - one reply at full speed: tokens/s.
 *    All at flush 1 ms, where per-event work shows most.
 */
import { createConversation, sendMessage, SubscriberPool } from '../lib/clients.ts';
import { now, sleep, withTimeout } from '../lib/clock.ts';
import { withParley, type Context, type Parley } from '../lib/context.ts';
import { summarizeFirstTokens, type FirstTokenSample, type FirstTokenSummary } from '../lib/first-token.ts';
import { warmUp } from '../lib/load.ts';
import { processCpuMs } from '../lib/machine.ts';
import { startOtlpCollector } from '../lib/otlp-collector.ts';
import { specText, stampsIn, WORD_CHARS } from '../lib/reply-spec.ts';
import { Samples, spread, type Spread } from '../lib/stats.ts';
import { watch } from '../lib/watch.ts';
import { probes } from './first-token.ts';

export interface ObservabilitySide {
  firstToken: FirstTokenSummary;
  /** The paced reply. */
  deltasPerSecond: Spread;
  delayMs: { p50: Spread; p99: Spread };
  parleyCpuMsPer1kTokens: Spread;
  /** The reply at full speed. */
  tokensPerSecond: Spread;
}

export interface ObservabilityResult {
  tokens: number;
  pacedTokensPerSecond: number;
  rounds: number;
  off: ObservabilitySide;
  on: ObservabilitySide;
  /** What reached the collector stub, and how often /metrics was read. */
  exported: { exports: number; bytes: number; scrapes: number };
  /** on / off − 1, in per cent: positive is slower (or, for CPU, more). */
  differencePercent: { firstTokenP50: number; firstTokenP99: number; deltasPerSecond: number; delayP99: number; cpuPer1kTokens: number; tokensPerSecond: number };
}

interface Reply {
  deltasPerSecond: number;
  tokensPerSecond: number;
  cpuMsPer1kTokens: number;
  delay: { p50: number; p99: number } | null;
}

/** One reply of `tokens` at `pace` tokens/s (0: full speed), watched by one subscriber. */
async function reply(parley: Parley, pool: SubscriberPool, tokens: number, pace: number): Promise<Reply> {
  const stamped = pace > 0;
  const conversationId = await createConversation(parley.client);
  const delays = new Samples();
  const w = watch(pool, conversationId, (text, at) => {
    for (const emittedAt of stampsIn(text)) delays.push(at - emittedAt);
  });
  try {
    await withTimeout(w.snapshot, 30_000, 'snapshot');
    const cpuBefore = processCpuMs(parley.child.pid) ?? 0;
    const started = now();
    await sendMessage(parley.client, conversationId, specText({ tokens, tokensPerSecond: pace, stamped }));
    const outcome = await withTimeout(w.done, 300_000, `reply of ${tokens} tokens`);
    const cpuMs = (processCpuMs(parley.child.pid) ?? 0) - cpuBefore;
    const received = stamped ? delays.length : w.stats.chars / WORD_CHARS;
    if (outcome !== 'finished' || received !== tokens) throw new Error(`reply ${outcome} with ${received} of ${tokens} tokens (${w.stats.error ?? ''})`);
    const seconds = ((w.stats.lastDeltaAt ?? now()) - started) / 1000;
    const summary = stamped ? delays.summary() : null;
    return {
      deltasPerSecond: w.stats.deltas / seconds,
      tokensPerSecond: tokens / seconds,
      cpuMsPer1kTokens: (cpuMs / tokens) * 1000,
      delay: summary && { p50: summary.p50, p99: summary.p99 },
    };
  } finally {
    w.stream.cancel();
  }
}

const percent = (on: number, off: number) => Math.round((on / off - 1) * 1000) / 10;

export async function observability(ctx: Context): Promise<ObservabilityResult> {
  const rounds = ctx.quick ? 4 : 10;
  const probesPerRound = ctx.quick ? 10 : 20;
  const tokens = ctx.quick ? 3_000 : 10_000;
  const pace = 2_000;
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
        const paced: [Reply[], Reply[]] = [[], []];
        const fullSpeed: [Reply[], Reply[]] = [[], []];
        const pools = sides.map((parley) => new SubscriberPool(parley.port));
        try {
          for (const parley of sides) await warmUp(parley);
          for (const [i, parley] of sides.entries()) await reply(parley, pools[i]!, tokens, 0); // warm-up, not counted
          for (let round = 0; round < rounds; round++) {
            // Which side goes first alternates too: neither always follows the other's load.
            const order = round % 2 === 0 ? [0, 1] : [1, 0];
            for (const i of order) firstTokens[i]!.push(...(await probes(sides[i]!, probesPerRound, 20)));
            for (const i of order) paced[i]!.push(await reply(sides[i]!, pools[i]!, tokens, pace));
            for (const i of order) fullSpeed[i]!.push(await reply(sides[i]!, pools[i]!, tokens, 0));
            const line = (i: number) => {
              const last = paced[i]!.at(-1)!;
              return `paced ${Math.round(last.deltasPerSecond)} deltas/s, delay p99 ${last.delay?.p99.toFixed(1)} ms, ${last.cpuMsPer1kTokens.toFixed(1)} CPU ms/1k tokens; full speed ${Math.round(fullSpeed[i]!.at(-1)!.tokensPerSecond)} tokens/s`;
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
          deltasPerSecond: spread(paced[i].map((r) => r.deltasPerSecond)),
          delayMs: { p50: spread(paced[i].map((r) => r.delay?.p50 ?? Number.NaN)), p99: spread(paced[i].map((r) => r.delay?.p99 ?? Number.NaN)) },
          parleyCpuMsPer1kTokens: spread(paced[i].map((r) => r.cpuMsPer1kTokens)),
          tokensPerSecond: spread(fullSpeed[i].map((r) => r.tokensPerSecond)),
        });
        const [offSide, onSide] = [side(0), side(1)];
        const result: ObservabilityResult = {
          tokens,
          pacedTokensPerSecond: pace,
          rounds,
          off: offSide,
          on: onSide,
          exported: { ...collector.stats, scrapes },
          differencePercent: {
            firstTokenP50: percent(onSide.firstToken.addedMs.p50, offSide.firstToken.addedMs.p50),
            firstTokenP99: percent(onSide.firstToken.addedMs.p99, offSide.firstToken.addedMs.p99),
            deltasPerSecond: percent(onSide.deltasPerSecond.median, offSide.deltasPerSecond.median),
            delayP99: percent(onSide.delayMs.p99.median, offSide.delayMs.p99.median),
            cpuPer1kTokens: percent(onSide.parleyCpuMsPer1kTokens.median, offSide.parleyCpuMsPer1kTokens.median),
            tokensPerSecond: percent(onSide.tokensPerSecond.median, offSide.tokensPerSecond.median),
          },
        };
        const d = result.differencePercent;
        ctx.log(
          `  first token added p50 off ${offSide.firstToken.addedMs.p50.toFixed(1)} ms, on ${onSide.firstToken.addedMs.p50.toFixed(1)} ms (${d.firstTokenP50} %); ` +
            `paced: deltas/s ${d.deltasPerSecond} %, delay p99 ${d.delayP99} %, CPU per 1k tokens ${d.cpuPer1kTokens} %; full speed tokens/s ${d.tokensPerSecond} %; ` +
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
