/**
 * K conversations, each with one grpc-js subscriber, each answered by a stamped reply paced by
 * the emulator: the delay of every token from the emulator's write to the subscriber's receipt.
 * Bounded: a fixed number of conversations and tokens, and a deadline after which whatever has
 * not arrived counts as not delivered and every stream is cancelled.
 */
import { createConversation, inBatches, sendMessage, SubscriberPool } from './clients.ts';
import { now, sleep, withTimeout } from './clock.ts';
import type { Parley } from './context.ts';
import { processCpuMs, RssSampler, TreeCpu } from './machine.ts';
import { specText, stampsIn } from './reply-spec.ts';
import { Samples, type Summary } from './stats.ts';
import { watch, type Watch } from './watch.ts';

export interface LoadOptions {
  conversations: number;
  tokens: number;
  tokensPerSecond: number;
  /** SendMessage calls are spread evenly over this long, as users arrive. */
  rampMs: number;
  /** After the last send, how long replies may take before the run is cut. */
  graceMs: number;
  postgresPid: number;
  emulatorPid: number;
}

export interface LoadResult {
  conversations: number;
  tokensPerReply: number;
  tokensPerSecondEach: number;
  delayMs: Summary;
  /** Tokens received / tokens the replies had. */
  deliveredFraction: number;
  completed: number;
  failed: number;
  /** Wall time from the first send to the last reply's end (or the cut). */
  seconds: number;
  /** CPU use over that time, in % of one core. */
  cpuPct: { parley: number; postgres: number; emulator: number; loadGenerator: number };
  parleyRss: { peakMiB: number; meanMiB: number };
  /** How late the Parley process's event loop ran its timers (monitorEventLoopDelay). */
  parleyEventLoopDelayMs: { p50: number; p99: number; max: number };
  errors: string[];
}

export interface PreparedLoad {
  /** Sends every message (spread over the ramp) and waits for the replies; returns the figures. */
  run(): Promise<LoadResult>;
  close(): void;
}

const MiB = 2 ** 20;

/**
 * A fresh Parley process runs its first requests unoptimised: a few short replies first, so the
 * JIT has compiled the hot paths before anything is measured.
 */
export async function warmUp(parley: Parley, conversations = 20, tokens = 200): Promise<void> {
  const pool = new SubscriberPool(parley.port, 100);
  try {
    await inBatches(
      Array.from({ length: conversations }, (_, i) => i),
      10,
      async () => {
        const id = await createConversation(parley.client);
        const w = watch(pool, id);
        await withTimeout(w.snapshot, 30_000, 'warm-up snapshot');
        await sendMessage(parley.client, id, specText({ tokens, tokensPerSecond: 400, stamped: true }));
        await withTimeout(w.done, 60_000, 'warm-up reply');
        w.stream.cancel();
      },
    );
  } finally {
    pool.close();
  }
}

/** Creates the conversations and opens their subscriptions; nothing is sent yet. */
export async function prepareLoad(parley: Parley, options: LoadOptions): Promise<PreparedLoad> {
  const pool = new SubscriberPool(parley.port, 100);
  const delays = new Samples();
  const ids = await inBatches(
    Array.from({ length: options.conversations }, (_, i) => i),
    32,
    () => createConversation(parley.client),
  );
  const watches: Watch[] = ids.map((id) =>
    watch(pool, id, (text, at) => {
      for (const emittedAt of stampsIn(text)) delays.push(at - emittedAt);
    }),
  );
  await withTimeout(Promise.all(watches.map((w) => w.snapshot)), 120_000, 'snapshots of every subscription');
  const streamErrors = watches.map((w) => w.stats.error).filter((e): e is string => e !== null);
  if (streamErrors.length > 0) throw new Error(`${streamErrors.length} subscriptions failed to open: ${streamErrors[0]}`);

  return {
    close: () => {
      for (const w of watches) w.stream.cancel();
      pool.close();
    },
    async run() {
      const rss = new RssSampler(parley.child.pid);
      const pgCpu = new TreeCpu(options.postgresPid);
      const parleyCpu0 = processCpuMs(parley.child.pid) ?? 0;
      const emulatorCpu0 = processCpuMs(options.emulatorPid) ?? 0;
      const selfCpu0 = process.cpuUsage();
      rss.start();
      pgCpu.start();
      await parley.child.request('eventLoopStart');
      const started = now();
      const text = specText({ tokens: options.tokens, tokensPerSecond: options.tokensPerSecond, stamped: true });
      const errors: string[] = [];
      const sends = inBatches(ids, 64, async (id, i) => {
        const due = started + (i * options.rampMs) / ids.length;
        if (due > now()) await sleep(due - now());
        await sendMessage(parley.client, id, text).catch((error: unknown) => {
          errors.push(`SendMessage: ${(error as Error).message}`);
        });
      });
      const replyMs = (options.tokens / options.tokensPerSecond) * 1000;
      const deadline = options.rampMs + replyMs + options.graceMs;
      const outcomes = await Promise.race([
        sends.then(() => Promise.all(watches.map((w) => w.done))),
        sleep(deadline).then(() => null),
      ]);
      const ended = now();
      const seconds = (ended - started) / 1000;
      const parleyCpuMs = (processCpuMs(parley.child.pid) ?? 0) - parleyCpu0;
      const emulatorCpuMs = (processCpuMs(options.emulatorPid) ?? 0) - emulatorCpu0;
      const pgMs = pgCpu.stop();
      const self = process.cpuUsage(selfCpu0);
      const memory = rss.stop();
      const eventLoopDelayMs = await parley.child.request<LoadResult['parleyEventLoopDelayMs']>('eventLoopStop');
      const pct = (ms: number) => Math.round((ms / (seconds * 1000)) * 1000) / 10;
      let completed = 0;
      let failed = 0;
      for (const w of watches) {
        if (w.stats.error) errors.push(w.stats.error);
      }
      for (const w of watches) {
        if (w.stats.outcome === 'finished') completed += 1;
        else if (w.stats.outcome !== null) failed += 1;
      }
      if (!outcomes) errors.push(`cut after ${Math.round(deadline / 1000)} s with ${watches.length - completed - failed} replies still streaming`);
      return {
        conversations: options.conversations,
        tokensPerReply: options.tokens,
        tokensPerSecondEach: options.tokensPerSecond,
        delayMs: delays.summary(),
        deliveredFraction: delays.length / (options.tokens * options.conversations),
        completed,
        failed,
        seconds: Math.round(seconds * 10) / 10,
        cpuPct: {
          parley: pct(parleyCpuMs),
          postgres: pct(pgMs),
          emulator: pct(emulatorCpuMs),
          loadGenerator: pct((self.user + self.system) / 1000),
        },
        parleyEventLoopDelayMs: eventLoopDelayMs,
        parleyRss: { peakMiB: Math.round(memory.peakBytes / MiB), meanMiB: Math.round(memory.meanBytes / MiB) },
        errors: [...new Set(errors)].slice(0, 5),
      };
    },
  };
}
