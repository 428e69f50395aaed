/**
 * a. Throughput against the transport limit. One stream, one subscriber, as fast as it goes:
 *    - transport: a bare connect-node server streaming N equal BlockDelta messages to grpc-js;
 *    - emulator → SDK: the same N tokens straight from the emulator through @anthropic-ai/sdk
 *      (what Parley's input can deliver at most);
 *    - Parley: a reply of N tokens from the emulator at full speed, at a grpc-js subscriber, with
 *      PARLEY_DELTA_FLUSH_MS=1 and with the default 50.
 */
import path from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import { create } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import { SubscribeRequestSchema } from '../../gen/parley/v1/conversation_service_pb.ts';
import { deltaText, createConversation, sendMessage, subscribeCall, SubscriberPool } from '../lib/clients.ts';
import { now, withTimeout } from '../lib/clock.ts';
import { proc, RESULTS_DIR, withParley, type Context } from '../lib/context.ts';
import { startChild } from '../lib/ipc.ts';
import { processCpuMs, TreeCpu } from '../lib/machine.ts';
import { summarizeProfile, type ProfileSummary } from '../lib/profile.ts';
import { specText, stampsIn, WORD_CHARS } from '../lib/reply-spec.ts';
import { Samples, spread, type Spread } from '../lib/stats.ts';
import { watch } from '../lib/watch.ts';

export interface ParleyThroughput {
  flushMs: number;
  tokens: number;
  /** 0: the emulator writes as fast as it can. */
  emulatorTokensPerSecond: number;
  /** Emit (emulator) → receipt (subscriber), per token, for paced runs. */
  delayMs?: { p50: Spread; p99: Spread; max: Spread };
  tokensPerSecond: Spread;
  deltasPerSecond: Spread;
  /** Subscribe events carrying text, per reply. */
  deltasPerReply: Spread;
  /** Parley's tokens/s over the transport's messages/s (one token per message there). */
  ratioToTransport: number;
  /** CPU of the Parley process per 1,000 tokens, and of PostgreSQL. */
  parleyCpuMsPer1kTokens: Spread;
  postgresCpuMsPer1kTokens: Spread;
  incomplete: number;
}

export interface ThroughputResult {
  transport: { messages: number; deltaText: string; deltasPerSecond: Spread };
  emulatorToSdk: { tokens: number; tokensPerSecond: Spread };
  parley: ParleyThroughput[];
  /** CPU profiles of the Parley process during one extra (uncounted) run. */
  profiles: Partial<Record<'fullSpeedFlush1' | 'pacedFlush1', ProfileSummary | { error: string }>>;
}

const TEXT = ' qzxw';
const PACED_TPS = 2_000;

async function transportRuns(ctx: Context, messages: number, runs: number): Promise<Spread> {
  const server = await startChild('transport', proc('transport'));
  const client = new grpc.Client(`127.0.0.1:${server.ready.port as number}`, grpc.credentials.createInsecure(), {
    'grpc.use_local_subchannel_pool': 1,
  });
  try {
    const rates: number[] = [];
    for (let run = 0; run <= runs; run++) {
      let received = 0;
      const started = now();
      const stream = subscribeCall(
        client,
        '/parley.v1.ConversationService/Subscribe',
        create(SubscribeRequestSchema, { conversationId: `n=${messages} text=${TEXT}` }),
        (response) => {
          if (deltaText(response) !== null) received += 1;
        },
      );
      const error = await withTimeout(stream.ended, 120_000, 'transport stream');
      if (error) throw new Error(`transport stream failed: ${error.message}`);
      if (received !== messages) throw new Error(`transport: received ${received} of ${messages}`);
      const seconds = (now() - started) / 1000;
      // The first run warms up the JIT on both sides and is not counted.
      if (run > 0) rates.push(messages / seconds);
      ctx.log(`  transport run ${run}${run === 0 ? ' (warm-up)' : ''}: ${Math.round(messages / seconds)} msg/s`);
    }
    return spread(rates);
  } finally {
    client.close();
    await server.stop();
  }
}

async function emulatorRuns(ctx: Context, tokens: number, runs: number): Promise<Spread> {
  const anthropic = new Anthropic({ apiKey: 'bench', baseURL: ctx.emulatorUrl, maxRetries: 0 });
  const rates: number[] = [];
  for (let run = 0; run <= runs; run++) {
    let deltas = 0;
    const started = now();
    const stream = anthropic.messages.stream({
      model: 'claude-sonnet-5-5',
      max_tokens: 128_000,
      messages: [{ role: 'user', content: specText({ tokens, tokensPerSecond: 0, stamped: false }) }],
    });
    stream.on('streamEvent', (event) => {
      if (event.type === 'content_block_delta') deltas += 1;
    });
    await stream.finalMessage();
    const seconds = (now() - started) / 1000;
    if (deltas !== tokens) throw new Error(`emulator: ${deltas} of ${tokens} tokens`);
    if (run > 0) rates.push(tokens / seconds);
    ctx.log(`  emulator → SDK run ${run}${run === 0 ? ' (warm-up)' : ''}: ${Math.round(tokens / seconds)} tokens/s`);
  }
  return spread(rates);
}

interface ParleyRunOptions {
  flushMs: number;
  tokens: number;
  /** Emulator pace; 0 = full speed. */
  tokensPerSecond: number;
  runs: number;
  transportRate: number;
  profileFile: string | null;
}

async function parleyRuns(ctx: Context, options: ParleyRunOptions): Promise<ParleyThroughput> {
  const { flushMs, tokens, tokensPerSecond: pace, runs, transportRate, profileFile } = options;
  const stamped = pace > 0;
  return withParley(ctx, { env: { PARLEY_DELTA_FLUSH_MS: String(flushMs) } }, async (parley) => {
    const pool = new SubscriberPool(parley.port);
    const tokenRates: number[] = [];
    const deltaRates: number[] = [];
    const deltaCounts: number[] = [];
    const parleyCpu: number[] = [];
    const pgCpu: number[] = [];
    const delays: number[] = [];
    const p50s: number[] = [];
    const p99s: number[] = [];
    let incomplete = 0;
    try {
      const last = runs + (profileFile ? 1 : 0);
      for (let run = 0; run <= last; run++) {
        // One more run after the measured ones is profiled (the profiler slows what it watches).
        const profiled = profileFile !== null && run === runs + 1;
        const conversationId = await createConversation(parley.client);
        const runDelays = new Samples();
        const w = watch(pool, conversationId, (text, at) => {
          for (const emittedAt of stampsIn(text)) runDelays.push(at - emittedAt);
        });
        await withTimeout(w.snapshot, 30_000, 'snapshot');
        if (profiled) await parley.child.request('profileStart');
        const cpuBefore = processCpuMs(parley.child.pid) ?? 0;
        const pg = new TreeCpu(ctx.pg.pid);
        pg.start();
        const started = now();
        await sendMessage(parley.client, conversationId, specText({ tokens, tokensPerSecond: pace, stamped }));
        const outcome = await withTimeout(w.done, 300_000, `Parley reply of ${tokens} tokens`);
        const pgMs = pg.stop();
        const cpuMs = (processCpuMs(parley.child.pid) ?? 0) - cpuBefore;
        if (profiled) await parley.child.request('profileStop', { file: profileFile });
        w.stream.cancel();
        const received = stamped ? runDelays.length : w.stats.chars / WORD_CHARS;
        if (outcome !== 'finished' || received !== tokens) {
          incomplete += 1;
          ctx.log(`  Parley flush=${flushMs} run ${run}: ${outcome}, ${received} of ${tokens} tokens (${w.stats.error ?? ''})`);
          continue;
        }
        const seconds = ((w.stats.lastDeltaAt ?? now()) - started) / 1000;
        const label = run === 0 ? ' (warm-up)' : profiled ? ' (profiled, not counted)' : '';
        ctx.log(
          `  Parley flush=${flushMs} run ${run}${label}: ${Math.round(tokens / seconds)} tokens/s, ` +
            `${w.stats.deltas} deltas, ${Math.round(w.stats.deltas / seconds)} deltas/s`,
        );
        if (run === 0 || profiled) continue;
        tokenRates.push(tokens / seconds);
        deltaRates.push(w.stats.deltas / seconds);
        deltaCounts.push(w.stats.deltas);
        parleyCpu.push((cpuMs / tokens) * 1000);
        pgCpu.push((pgMs / tokens) * 1000);
        if (stamped) {
          const summary = runDelays.summary();
          p50s.push(summary.p50);
          p99s.push(summary.p99);
          delays.push(summary.max);
        }
      }
    } finally {
      pool.close();
    }
    const tokensPerSecond = spread(tokenRates);
    return {
      flushMs,
      tokens,
      emulatorTokensPerSecond: pace,
      ...(stamped ? { delayMs: { p50: spread(p50s), p99: spread(p99s), max: spread(delays) } } : {}),
      tokensPerSecond,
      deltasPerSecond: spread(deltaRates),
      deltasPerReply: spread(deltaCounts),
      ratioToTransport: tokensPerSecond.median / transportRate,
      parleyCpuMsPer1kTokens: spread(parleyCpu),
      postgresCpuMsPer1kTokens: spread(pgCpu),
      incomplete,
    };
  });
}

export async function throughput(ctx: Context): Promise<ThroughputResult> {
  const messages = ctx.quick ? 50_000 : 200_000;
  const tokens = ctx.quick ? 5_000 : 20_000;
  const runs = ctx.quick ? 2 : 3;
  ctx.log(`a. throughput: transport ${messages} messages, Parley ${tokens} tokens, ${runs} runs (+1 warm-up) each`);
  const transport = await transportRuns(ctx, messages, runs);
  const emulatorToSdk = await emulatorRuns(ctx, tokens, runs);
  const parley: ParleyThroughput[] = [];
  const profileFile = path.join(RESULTS_DIR, 'parley-throughput-flush1.cpuprofile');
  const pacedProfileFile = path.join(RESULTS_DIR, 'parley-throughput-paced-flush1.cpuprofile');
  const common = { tokens, runs, transportRate: transport.median };
  parley.push(await parleyRuns(ctx, { ...common, flushMs: 1, tokensPerSecond: 0, profileFile }));
  parley.push(await parleyRuns(ctx, { ...common, flushMs: 50, tokensPerSecond: 0, profileFile: null }));
  // Paced well above what one conversation's write chain can take, so that the delta rate is
  // Parley's, not the emulator's.
  const paced = { runs, transportRate: transport.median, tokensPerSecond: PACED_TPS, tokens: PACED_TPS * (ctx.quick ? 1 : 4) };
  parley.push(await parleyRuns(ctx, { ...paced, flushMs: 1, profileFile: pacedProfileFile }));
  parley.push(await parleyRuns(ctx, { ...paced, flushMs: 50, profileFile: null }));
  const profiles: ThroughputResult['profiles'] = {};
  for (const [name, file] of [['fullSpeedFlush1', profileFile], ['pacedFlush1', pacedProfileFile]] as const) {
    try {
      profiles[name] = await summarizeProfile(file);
    } catch (error) {
      profiles[name] = { error: (error as Error).message };
    }
  }
  return {
    transport: { messages, deltaText: TEXT, deltasPerSecond: transport },
    emulatorToSdk: { tokens, tokensPerSecond: emulatorToSdk },
    parley,
    profiles,
  };
}
