/**
 * i. Long conversations: does a conversation of 1,000 messages (500 exchanges) cost more to
 *    answer than one of 10 (5 exchanges)? On one Parley process:
 *    - SendMessage → the emulator has the model request (the "before the model" part of first
 *      token, lib/first-token.ts), and the whole first token added, probes alternating between
 *      the two sizes so that both see the same load on the machine;
 *    - in this process, over the same stored messages: buildHistory, the context fitter's
 *      estimate and validateRequest (the in-process work on that path), and the snapshot read of
 *      the messages from PostgreSQL (stores.snapshots.messages).
 *    Conversations grow through the real API, the emulator answering at full speed (in quick
 *    mode the long one grows to 50 exchanges so, then its rows are copied: lib/copy-exchanges.ts). Each short
 *    probe goes to its own 10-message conversation, so every short probe sees exactly 10; the
 *    long conversation is one, and grows by one exchange per probe (1,000 → 1,000 + 2 × probes).
 */
import path from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import type { MessageCreateParamsBase } from '@anthropic-ai/sdk/resources/messages';
import { validateRequest, buildHistory } from '../../src/engine/history/index.ts';
import { TokenCalibration } from '../../src/engine/context/estimate.ts';
import { OPEN_TENANT } from '../../src/engine/identity/authenticator.ts';
import { closeOrm, openOrm } from '../../src/store/orm.ts';
import { openStores, type Stores } from '../../src/store/stores.ts';
import type { ConversationSettings, MessageRecord, Owner } from '../../src/domain/records.ts';
import { createConversation, inBatches, sendMessage, SubscriberPool } from '../lib/clients.ts';
import { now, sleep, withTimeout } from '../lib/clock.ts';
import { RESULTS_DIR, withParley, type Context, type Parley } from '../lib/context.ts';
import { firstTokenSample, summarizeFirstTokens, type FirstTokenSample, type FirstTokenSummary } from '../lib/first-token.ts';
import { copyExchanges } from '../lib/copy-exchanges.ts';
import { Follower } from '../lib/follow.ts';
import { warmUp } from '../lib/load.ts';
import { summarizeProfile, type ProfileSummary } from '../lib/profile.ts';
import { arrivalIn, specText } from '../lib/reply-spec.ts';
import { summarize, type Summary } from '../lib/stats.ts';

const SHORT_EXCHANGES = 5;
const LONG_EXCHANGES = 500;
/** Under 2× the short conversation's figure: the target each ratio is compared against. */
const TARGET_RATIO = 2;

/** Each growing reply: 20 tokens of pseudo-words, as fast as the emulator writes. */
const GROW_SPEC = specText({ tokens: 20, tokensPerSecond: 0, stamped: false });
/** As scenario d: paced like a model, the first token stamped with the request's arrival. */
const PROBE_SPEC = specText({ tokens: 8, tokensPerSecond: 80, stamped: true, arrival: true });

export interface SizedFigure {
  short: Summary;
  long: Summary;
  /** long / short, of the p50s and of the p99s. */
  ratio: { p50: number; p99: number };
}

export interface LongHistoryResult {
  messages: { short: number; long: number };
  /** Messages of the long conversation when the last probe was sent. */
  longMessagesAtEnd: number;
  probes: number;
  targetRatio: number;
  growSeconds: number;
  /** Exchanges of the long conversation sent through the API; the rest are copies of their rows. */
  longExchangesSent: number;
  /** Characters of the model request each size builds (JSON of its messages). */
  requestChars: { short: number; long: number };
  firstToken: { short: FirstTokenSummary; long: FirstTokenSummary };
  beforeModelMs: SizedFigure;
  /** The same requests as Parley builds, straight through the SDK: what the SDK and the emulator take of "before the model". */
  directBeforeModelMs: SizedFigure;
  addedMs: SizedFigure;
  iterations: { inProcess: number; snapshotRead: number };
  buildHistoryUs: SizedFigure;
  estimateUs: SizedFigure;
  validateRequestUs: SizedFigure;
  snapshotReadMs: SizedFigure;
  profileProbes: number;
  /** Parley while it answers probes into the long conversation only (extra probes, not counted). */
  profile?: ProfileSummary | { error: string };
}

function sized(short: Summary, long: Summary): SizedFigure {
  const r = (a: number, b: number) => Math.round((a / b) * 100) / 100;
  return { short, long, ratio: { p50: r(long.p50, short.p50), p99: r(long.p99, short.p99) } };
}

/** Sends `exchanges` messages, at most `window` waiting at once (the queue takes them in order). */
async function grow(parley: Parley, follower: Follower, conversationId: string, exchanges: number, window: number): Promise<void> {
  const base = follower.finished;
  for (let i = 0; i < exchanges; i++) {
    if (i >= window) await withTimeout(follower.until(base + i - window + 1), 60_000, 'growing reply');
    await sendMessage(parley.client, conversationId, GROW_SPEC);
  }
  await withTimeout(follower.until(base + exchanges), 60_000, 'growing replies');
}

async function probe(parley: Parley, follower: Follower, conversationId: string): Promise<FirstTokenSample> {
  const target = follower.finished + 1;
  follower.arm();
  const sentAt = now();
  await sendMessage(parley.client, conversationId, PROBE_SPEC);
  await withTimeout(follower.until(target), 60_000, 'probe reply');
  const first = follower.take();
  if (!first) throw new Error('the probe reply carried no text delta');
  const sample = firstTokenSample(sentAt, first.at, first.text);
  if (!sample) throw new Error(`the first delta carried no stamps: ${JSON.stringify(first.text.slice(0, 60))}`);
  return sample;
}

/** Request sent through the SDK → the emulator has it, for `request` ending with a probe. */
async function direct(anthropic: Anthropic, request: MessageCreateParamsBase): Promise<number> {
  const messages = [...request.messages.slice(0, -1), { role: 'user' as const, content: PROBE_SPEC }];
  let first: string | null = null;
  const sentAt = now();
  const stream = anthropic.messages.stream({ ...request, messages });
  stream.on('text', (delta) => (first ??= delta));
  await stream.finalMessage();
  const arrival = first === null ? null : arrivalIn(first);
  if (arrival === null) throw new Error('the direct reply carried no arrival stamp');
  return arrival - sentAt;
}

/** Times each size's `run` in turn, iteration by iteration (who goes first alternates), after a warm-up. */
async function alternate(iterations: number, warmUps: number, runs: [() => unknown, () => unknown], unit: 'us' | 'ms'): Promise<[Summary, Summary]> {
  const scale = unit === 'us' ? 1000 : 1;
  const samples: [number[], number[]] = [[], []];
  for (let i = -warmUps; i < iterations; i++) {
    const order = i % 2 === 0 ? [0, 1] : [1, 0];
    for (const side of order) {
      const t = performance.now();
      const result = runs[side]!();
      // Only a read is awaited: an await around synchronous work would time a microtask turn too.
      if (result instanceof Promise) await result;
      const elapsed = (performance.now() - t) * scale;
      if (i >= 0) samples[side]!.push(elapsed);
    }
  }
  return [summarize(samples[0]), summarize(samples[1])];
}

interface Stored {
  settings: ConversationSettings;
  messages: MessageRecord[];
  currentMessageId: string;
}

async function stored(stores: Stores, owner: Owner, conversationId: string): Promise<Stored> {
  const conversation = await stores.conversations.get(owner, conversationId);
  const messages = await stores.snapshots.messages(owner, conversationId);
  if (!conversation || !messages) throw new Error(`conversation ${conversationId} is not in the store`);
  const current = messages.findLast((m) => m.role === 'user');
  if (!current) throw new Error(`conversation ${conversationId} has no user message`);
  return { settings: conversation.settings, messages, currentMessageId: current.id };
}

const requestOf = (s: Stored) => buildHistory({ settings: s.settings, messages: s.messages, currentMessageId: s.currentMessageId, tools: [] });

export async function longHistory(ctx: Context): Promise<LongHistoryResult> {
  const probes = ctx.quick ? 10 : 30;
  const profileProbes = ctx.quick ? 5 : 10;
  const inProcess = ctx.quick ? 300 : 2_000;
  const snapshotRead = ctx.quick ? 30 : 150;
  ctx.log(`i. long conversations: ${SHORT_EXCHANGES * 2} vs ${LONG_EXCHANGES * 2} messages, ${probes} probes each, alternating`);
  return withParley(ctx, { env: { PARLEY_DELTA_FLUSH_MS: '1' } }, async (parley) => {
    await warmUp(parley);
    const pool = new SubscriberPool(parley.port, 100);
    const orm = await openOrm({ databaseUrl: parley.databaseUrl, poolSize: 2 });
    try {
      const started = now();
      const longId = await createConversation(parley.client, 'long');
      const long = new Follower(pool, longId);
      await withTimeout(long.snapshot, 30_000, 'snapshot');
      const sent = ctx.quick ? 50 : LONG_EXCHANGES;
      await grow(parley, long, longId, sent, 20);
      if (sent < LONG_EXCHANGES) await copyExchanges(parley.databaseUrl, longId, LONG_EXCHANGES / sent - 1);
      const shorts = await inBatches(Array.from({ length: probes }, (_, i) => i), 10, async () => {
        const id = await createConversation(parley.client, 'short');
        const follower = new Follower(pool, id);
        await withTimeout(follower.snapshot, 30_000, 'snapshot');
        await grow(parley, follower, id, SHORT_EXCHANGES, SHORT_EXCHANGES);
        return { id, follower };
      });
      const growSeconds = Math.round((now() - started) / 100) / 10;
      ctx.log(`  grown in ${growSeconds} s: 1 conversation of ${LONG_EXCHANGES * 2} messages, ${probes} of ${SHORT_EXCHANGES * 2}`);

      // In process, over the stored messages as the prompt runner reads them, before the probes
      // add to the long conversation.
      const stores = await openStores(orm);
      const owner: Owner = { tenantId: OPEN_TENANT, subjectId: null };
      const sides = [await stored(stores, owner, shorts[0]!.id), await stored(stores, owner, longId)] as const;
      if (sides[0].messages.length !== SHORT_EXCHANGES * 2 || sides[1].messages.length !== LONG_EXCHANGES * 2) {
        throw new Error(`the conversations hold ${sides[0].messages.length} and ${sides[1].messages.length} messages, not ${SHORT_EXCHANGES * 2} and ${LONG_EXCHANGES * 2}`);
      }
      const requests = [requestOf(sides[0]), requestOf(sides[1])] as const;
      const calibration = new TokenCalibration();
      const [buildShort, buildLong] = await alternate(inProcess, 50, [() => requestOf(sides[0]), () => requestOf(sides[1])], 'us');
      const [estimateShort, estimateLong] = await alternate(inProcess, 50, [() => calibration.estimate(requests[0]), () => calibration.estimate(requests[1])], 'us');
      const [validateShort, validateLong] = await alternate(inProcess, 50, [() => validateRequest(requests[0]), () => validateRequest(requests[1])], 'us');
      const [readShort, readLong] = await alternate(snapshotRead, 5, [() => stores.snapshots.messages(owner, shorts[0]!.id), () => stores.snapshots.messages(owner, longId)], 'ms');
      ctx.log(`  buildHistory p50 ${buildShort.p50.toFixed(1)} vs ${buildLong.p50.toFixed(1)} µs; snapshot read p50 ${readShort.p50.toFixed(2)} vs ${readLong.p50.toFixed(2)} ms`);

      const samples: [FirstTokenSample[], FirstTokenSample[]] = [[], []];
      for (let i = 0; i < probes; i++) {
        const short = shorts[i]!;
        const order = i % 2 === 0 ? [0, 1] : [1, 0];
        for (const side of order) {
          samples[side]!.push(side === 0 ? await probe(parley, short.follower, short.id) : await probe(parley, long, longId));
          await sleep(20);
        }
      }
      const anthropic = new Anthropic({ apiKey: 'bench', baseURL: ctx.emulatorUrl, maxRetries: 0 });
      const directs: [number[], number[]] = [[], []];
      for (let i = 0; i < probes; i++) {
        for (const side of i % 2 === 0 ? [0, 1] : [1, 0]) directs[side]!.push(await direct(anthropic, requests[side]!));
      }
      const firstToken = { short: summarizeFirstTokens(samples[0]), long: summarizeFirstTokens(samples[1]) };
      ctx.log(`  before the model p50 ${firstToken.short.beforeModelMs.p50.toFixed(1)} vs ${firstToken.long.beforeModelMs.p50.toFixed(1)} ms`);

      // Where the long case's time goes: extra probes into it alone, under the profiler.
      let profile: LongHistoryResult['profile'];
      const file = path.join(RESULTS_DIR, 'parley-long-history.cpuprofile');
      try {
        await parley.child.request('profileStart');
        for (let i = 0; i < profileProbes; i++) await probe(parley, long, longId);
        await parley.child.request('profileStop', { file });
        profile = await summarizeProfile(file);
      } catch (error) {
        profile = { error: error instanceof Error ? error.message : String(error) };
      }

      for (const s of shorts) s.follower.stream.cancel();
      long.stream.cancel();
      return {
        messages: { short: sides[0].messages.length, long: sides[1].messages.length },
        longMessagesAtEnd: sides[1].messages.length + 2 * (probes - 1),
        probes,
        targetRatio: TARGET_RATIO,
        growSeconds,
        longExchangesSent: sent,
        requestChars: { short: JSON.stringify(requests[0].messages).length, long: JSON.stringify(requests[1].messages).length },
        firstToken,
        beforeModelMs: sized(firstToken.short.beforeModelMs, firstToken.long.beforeModelMs),
        directBeforeModelMs: sized(summarize(directs[0]), summarize(directs[1])),
        addedMs: sized(firstToken.short.addedMs, firstToken.long.addedMs),
        iterations: { inProcess, snapshotRead },
        buildHistoryUs: sized(buildShort, buildLong),
        estimateUs: sized(estimateShort, estimateLong),
        validateRequestUs: sized(validateShort, validateLong),
        snapshotReadMs: sized(readShort, readLong),
        profileProbes,
        profile,
      };
    } finally {
      pool.close();
      await closeOrm(orm);
    }
  });
}
