/**
 * d. Time to first token added by Parley: SendMessage → first BlockDelta at a grpc-js
 *    subscriber, minus the emulator's own time to first token (see lib/first-token.ts), with
 *    the service idle and while it streams a background load.
 */
import Anthropic from '@anthropic-ai/sdk';
import { createConversation, parleyClient, sendMessage, SubscriberPool, type ParleyClient } from '../lib/clients.ts';
import { now, sleep, withTimeout } from '../lib/clock.ts';
import { withParley, type Context, type Parley } from '../lib/context.ts';
import { firstTokenSample, summarizeFirstTokens, type FirstTokenSample, type FirstTokenSummary } from '../lib/first-token.ts';
import { prepareLoad, warmUp, type LoadResult } from '../lib/load.ts';
import { specText } from '../lib/reply-spec.ts';
import { summarize, type Summary } from '../lib/stats.ts';
import { watch } from '../lib/watch.ts';

export interface FirstTokenCase {
  flushMs: number;
  load: 'idle' | 'loaded';
  firstToken: FirstTokenSummary;
  /** The background load while probing (loaded cases). */
  background?: Pick<LoadResult, 'conversations' | 'delayMs' | 'deliveredFraction' | 'cpuPct'>;
}

export interface FirstTokenResult {
  probes: number;
  /** The emulator straight through @anthropic-ai/sdk, no Parley: its own time to first token. */
  emulatorDirectMs: Summary;
  backgroundConversations: number;
  cases: FirstTokenCase[];
}

// Paced like a model (80 tokens/s), so the first token is followed by more rather than by the end
// of the block (which would flush at once and hide the coalescing delay).
const PROBE_SPEC = { tokens: 8, tokensPerSecond: 80, stamped: true, arrival: true };

async function probe(parley: Parley, pool: SubscriberPool, client: ParleyClient): Promise<FirstTokenSample> {
  const conversationId = await createConversation(client);
  let first: { text: string; at: number } | null = null;
  const w = watch(pool, conversationId, (text, at) => {
    first ??= { text, at };
  });
  try {
    await withTimeout(w.snapshot, 30_000, 'snapshot');
    const sentAt = now();
    await sendMessage(client, conversationId, specText(PROBE_SPEC));
    await withTimeout(w.done, 60_000, 'probe reply');
    const got = first as { text: string; at: number } | null;
    if (!got) throw new Error(`no delta received (${w.stats.error ?? w.stats.outcome})`);
    const sample = firstTokenSample(sentAt, got.at, got.text);
    if (!sample) throw new Error(`the first delta carried no stamps: ${JSON.stringify(got.text.slice(0, 60))}`);
    return sample;
  } finally {
    w.stream.cancel();
  }
}

/** `authorization`: sent on every call, for an instance that is not open (scenario g). */
export async function probes(parley: Parley, count: number, gapMs: number, authorization?: string): Promise<FirstTokenSample[]> {
  const pool = new SubscriberPool(parley.port, 100, authorization);
  const client = authorization === undefined ? parley.client : parleyClient(parley.port, authorization);
  try {
    const samples: FirstTokenSample[] = [];
    for (let i = 0; i < count; i++) {
      samples.push(await probe(parley, pool, client));
      await sleep(gapMs);
    }
    return samples;
  } finally {
    pool.close();
  }
}

async function emulatorDirect(ctx: Context, count: number): Promise<Summary> {
  const anthropic = new Anthropic({ apiKey: 'bench', baseURL: ctx.emulatorUrl, maxRetries: 0 });
  const samples: number[] = [];
  for (let i = 0; i <= count; i++) {
    const sentAt = now();
    const stream = anthropic.messages.stream({
      model: 'claude-sonnet-5-5',
      max_tokens: 1024,
      messages: [{ role: 'user', content: specText(PROBE_SPEC) }],
    });
    let firstAt: number | null = null;
    stream.on('streamEvent', (event) => {
      if (event.type === 'content_block_delta') firstAt ??= now();
    });
    await stream.finalMessage();
    if (i > 0 && firstAt !== null) samples.push(firstAt - sentAt);
  }
  return summarize(samples);
}

export async function firstToken(ctx: Context): Promise<FirstTokenResult> {
  const count = ctx.quick ? 8 : 30;
  const background = ctx.quick ? 5 : 20;
  const gapMs = 50;
  ctx.log(`d. first token: ${count} probes per case, flush 1 and 50, idle and under ${background} conversations at 80 tokens/s`);
  const emulatorDirectMs = await emulatorDirect(ctx, count);
  ctx.log(`  emulator direct (SDK, no Parley): p50 ${emulatorDirectMs.p50.toFixed(1)} ms`);
  const cases: FirstTokenCase[] = [];
  for (const flushMs of [1, 50]) {
    await withParley(ctx, { env: { PARLEY_DELTA_FLUSH_MS: String(flushMs), PARLEY_MAX_CONCURRENT_PROMPTS: '256' } }, async (parley) => {
      await warmUp(parley);
      const idle = summarizeFirstTokens(await probes(parley, count, gapMs));
      cases.push({ flushMs, load: 'idle', firstToken: idle });
      ctx.log(`  flush=${flushMs} idle: added p50 ${idle.addedMs.p50.toFixed(1)} ms, p99 ${idle.addedMs.p99.toFixed(1)} ms`);

      // Long enough replies that the background outlasts the probes.
      const tokens = Math.ceil(((count * 250 + 3_000) / 1000) * 80);
      const load = await prepareLoad(parley, {
        conversations: background,
        tokens,
        tokensPerSecond: 80,
        rampMs: 1_000,
        graceMs: 15_000,
        postgresPid: ctx.pg.pid,
        emulatorPid: ctx.emulator.pid,
      });
      try {
        const running = load.run();
        await sleep(1_500);
        const loaded = summarizeFirstTokens(await probes(parley, count, gapMs));
        const result = await running;
        cases.push({
          flushMs,
          load: 'loaded',
          firstToken: loaded,
          background: { conversations: result.conversations, delayMs: result.delayMs, deliveredFraction: result.deliveredFraction, cpuPct: result.cpuPct },
        });
        ctx.log(
          `  flush=${flushMs} under load: added p50 ${loaded.addedMs.p50.toFixed(1)} ms, p99 ${loaded.addedMs.p99.toFixed(1)} ms ` +
            `(background p99 ${result.delayMs.p99.toFixed(1)} ms)`,
        );
      } finally {
        load.close();
      }
    });
  }
  return { probes: count, emulatorDirectMs, backgroundConversations: background, cases };
}
