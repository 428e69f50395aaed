/**
 * f. Peers on the same emulator, measured the way a and d measure Parley:
 *    - the Vercel AI SDK (`ai` + `@ai-sdk/anthropic`) behind a node:http server, text stream;
 *    - LangGraph's JS server (@langchain/langgraph-api) running a one-node graph that calls
 *      Claude through @langchain/anthropic, streamed with stream_mode "messages-tuple".
 *    Time to first token added (idle), tokens/s and deltas/s at full speed, and the delay of
 *    each token when the emulator paces 2,000 tokens/s.
 *    A peer that cannot run here is reported with the reason; the others still run.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { now, sleep, withTimeout } from '../lib/clock.ts';
import { BENCH_DIR, proc, type Context } from '../lib/context.ts';
import { firstTokenSample, summarizeFirstTokens, type FirstTokenSample, type FirstTokenSummary } from '../lib/first-token.ts';
import { closeHttpAgent, postJson, postStream, SseParser, type HttpTarget } from '../lib/http-stream.ts';
import { startChild, type Child } from '../lib/ipc.ts';
import { processCpuMs } from '../lib/machine.ts';
import { specText, stampsIn, WORD_CHARS, type ReplySpec } from '../lib/reply-spec.ts';
import { Samples, spread, type Spread } from '../lib/stats.ts';

export interface PeerResult {
  name: string;
  version: string;
  ran: boolean;
  /** Why the peer could not run, if it did not. */
  reason?: string;
  transport?: string;
  firstToken?: FirstTokenSummary;
  fullSpeed?: { tokens: number; tokensPerSecond: Spread; deltasPerSecond: Spread; deltasPerReply: Spread; serverCpuMsPer1kTokens: Spread };
  paced?: { tokens: number; emulatorTokensPerSecond: number; delayMs: { p50: Spread; p99: Spread }; deltasPerSecond: Spread };
  notes?: string[];
}

export interface PeersResult {
  peers: PeerResult[];
}

/** One request to a peer: calls onText with each piece of reply text as it arrives. */
type Ask = (spec: ReplySpec, onText: (text: string, at: number) => void) => Promise<{ sentAt: number; done: Promise<void> }>;

const PACED_TPS = 2_000;

async function measure(ctx: Context, server: Child, ask: Ask, result: PeerResult): Promise<void> {
  const probes = ctx.quick ? 10 : 30;
  const tokens = ctx.quick ? 5_000 : 20_000;
  const runs = ctx.quick ? 2 : 3;

  // Warm-up: the JIT of both sides.
  for (let i = 0; i < 5; i++) {
    const { done } = await ask({ tokens: 200, tokensPerSecond: 0, stamped: false }, () => undefined);
    await done;
  }

  const samples: FirstTokenSample[] = [];
  for (let i = 0; i < probes; i++) {
    let first: { text: string; at: number } | null = null;
    const { sentAt, done } = await ask({ tokens: 8, tokensPerSecond: 80, stamped: true, arrival: true }, (text, at) => {
      if (text.length > 0) first ??= { text, at };
    });
    await done;
    const got = first as { text: string; at: number } | null;
    const sample = got && firstTokenSample(sentAt, got.at, got.text);
    if (!sample) throw new Error(`${result.name}: the first text carried no stamps (${JSON.stringify(got?.text.slice(0, 60))})`);
    samples.push(sample);
    await sleep(50);
  }
  result.firstToken = summarizeFirstTokens(samples);
  ctx.log(`  ${result.name}: first token added p50 ${result.firstToken.addedMs.p50.toFixed(1)} ms, p99 ${result.firstToken.addedMs.p99.toFixed(1)} ms`);

  const tokenRates: number[] = [];
  const deltaRates: number[] = [];
  const deltaCounts: number[] = [];
  const cpu: number[] = [];
  for (let run = 0; run <= runs; run++) {
    let deltas = 0;
    let chars = 0;
    let last = 0;
    const cpu0 = processCpuMs(server.pid) ?? 0;
    const { sentAt, done } = await ask({ tokens, tokensPerSecond: 0, stamped: false }, (text, at) => {
      if (!text) return;
      deltas += 1;
      chars += text.length;
      last = at;
    });
    await withTimeout(done, 300_000, `${result.name}: ${tokens} tokens`);
    const cpuMs = (processCpuMs(server.pid) ?? 0) - cpu0;
    if (chars !== tokens * WORD_CHARS) throw new Error(`${result.name}: received ${chars / WORD_CHARS} of ${tokens} tokens`);
    const seconds = (last - sentAt) / 1000;
    ctx.log(`  ${result.name} full speed run ${run}${run === 0 ? ' (warm-up)' : ''}: ${Math.round(tokens / seconds)} tokens/s, ${deltas} deltas`);
    if (run === 0) continue;
    tokenRates.push(tokens / seconds);
    deltaRates.push(deltas / seconds);
    deltaCounts.push(deltas);
    cpu.push((cpuMs / tokens) * 1000);
  }
  result.fullSpeed = {
    tokens,
    tokensPerSecond: spread(tokenRates),
    deltasPerSecond: spread(deltaRates),
    deltasPerReply: spread(deltaCounts),
    serverCpuMsPer1kTokens: spread(cpu),
  };

  const pacedTokens = PACED_TPS * (ctx.quick ? 1 : 4);
  const p50: number[] = [];
  const p99: number[] = [];
  const pacedDeltaRates: number[] = [];
  for (let run = 0; run < runs; run++) {
    const delays = new Samples();
    let deltas = 0;
    let last = 0;
    const { sentAt, done } = await ask({ tokens: pacedTokens, tokensPerSecond: PACED_TPS, stamped: true }, (text, at) => {
      const stamps = stampsIn(text);
      if (stamps.length) deltas += 1;
      for (const emitted of stamps) delays.push(at - emitted);
      last = at;
    });
    await withTimeout(done, 120_000, `${result.name}: paced reply`);
    if (delays.length !== pacedTokens) throw new Error(`${result.name}: paced reply delivered ${delays.length} of ${pacedTokens} tokens`);
    const summary = delays.summary();
    p50.push(summary.p50);
    p99.push(summary.p99);
    pacedDeltaRates.push(deltas / ((last - sentAt) / 1000));
    ctx.log(`  ${result.name} paced ${PACED_TPS}/s run ${run + 1}: p50 ${summary.p50.toFixed(1)} ms, p99 ${summary.p99.toFixed(1)} ms, ${deltas} deltas`);
  }
  result.paced = { tokens: pacedTokens, emulatorTokensPerSecond: PACED_TPS, delayMs: { p50: spread(p50), p99: spread(p99) }, deltasPerSecond: spread(pacedDeltaRates) };
}

async function aiSdk(ctx: Context): Promise<PeerResult> {
  const result: PeerResult = {
    name: 'Vercel AI SDK',
    version: `ai ${await versionOf('ai')}, @ai-sdk/anthropic ${await versionOf('@ai-sdk/anthropic')}`,
    ran: false,
    transport: 'node:http, HTTP/1.1 chunked text stream (streamText → toTextStream → pipeTextStreamToResponse)',
    notes: ['No persistence, no resume, no fan-out: one request, one reply, straight through.', 'A "delta" is one read of the response body (TCP may merge several writes into one read).'],
  };
  let server: Child | null = null;
  try {
    server = await startChild('ai-sdk', proc('ai-sdk'), { env: { BENCH_EMULATOR_URL: ctx.emulatorUrl } });
    const target: HttpTarget = { port: server.ready.port as number };
    const ask: Ask = async (spec, onText) => {
      const sentAt = now();
      const done = postStream(target, '/chat', { prompt: specText(spec) }, onText).then(() => undefined);
      return { sentAt, done };
    };
    await measure(ctx, server, ask, result);
    result.ran = true;
  } catch (error) {
    result.reason = (error as Error).message;
    ctx.log(`  ${result.name} did not complete: ${result.reason}`);
  } finally {
    await server?.stop();
  }
  return result;
}

const LANGGRAPH_DIR = path.join(BENCH_DIR, 'peers', 'langgraph');

/** LangGraph lives in a package of its own (see its package.json); installed on first use. */
async function ensureLangGraphInstalled(ctx: Context): Promise<void> {
  if (existsSync(path.join(LANGGRAPH_DIR, 'node_modules', '@langchain', 'langgraph-api'))) return;
  if (process.env.BENCH_NO_INSTALL === '1') throw new Error(`not installed in ${LANGGRAPH_DIR} (BENCH_NO_INSTALL=1); run: npm run bench:install-peers`);
  ctx.log('  installing the LangGraph peer (npm ci in bench/peers/langgraph, once)…');
  try {
    await promisify(execFile)('npm', ['ci', '--no-audit', '--no-fund'], { cwd: LANGGRAPH_DIR, timeout: 300_000 });
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? '';
    throw new Error(`npm ci in bench/peers/langgraph failed: ${stderr.split('\n').filter((l) => /error/i.test(l)).slice(0, 5).join(' | ') || (error as Error).message}`, { cause: error });
  }
}

async function langGraph(ctx: Context): Promise<PeerResult> {
  const result: PeerResult = {
    name: 'LangGraph server',
    version: '',
    ran: false,
    transport: 'HTTP/1.1 Server-Sent Events (POST /threads/{id}/runs/stream, stream_mode "messages-tuple")',
    notes: [
      '@langchain/langgraph-api is the runtime of `langgraphjs dev`: threads, runs and checkpoints in memory (flushed to files). ' +
        'LangGraph Platform\'s production server (PostgreSQL + Redis) ships as a licensed Docker image and cannot run on this machine (no Docker engine, no licence key).',
      'Its own package in bench/peers/langgraph: LangGraph 1.x requires zod >= 4.2 as a peer, Parley pins zod 4.1.12, so it cannot share the root node_modules.',
    ],
  };
  let server: Child | null = null;
  try {
    await ensureLangGraphInstalled(ctx);
    result.version = `@langchain/langgraph-api ${await versionOf('@langchain/langgraph-api', LANGGRAPH_DIR)}, @langchain/langgraph ${await versionOf('@langchain/langgraph', LANGGRAPH_DIR)}, @langchain/anthropic ${await versionOf('@langchain/anthropic', LANGGRAPH_DIR)}`;
    server = await startChild('langgraph', path.join(LANGGRAPH_DIR, 'server.mjs'), {
      env: { BENCH_EMULATOR_URL: ctx.emulatorUrl, LANGSMITH_TRACING: 'false', LANGCHAIN_TRACING_V2: 'false', LOG_LEVEL: 'warn' },
      cwd: LANGGRAPH_DIR,
    });
    const target: HttpTarget = { port: server.ready.port as number };
    const ask: Ask = async (spec, onText) => {
      const thread = await postJson<{ thread_id: string }>(target, '/threads', {});
      const parser = new SseParser((event, data, at) => {
        if (event !== 'messages') return;
        const [chunk] = JSON.parse(data) as [{ content?: unknown }];
        const content = chunk?.content;
        const text =
          typeof content === 'string'
            ? content
            : Array.isArray(content)
              ? content.map((part: { text?: unknown }) => (typeof part?.text === 'string' ? part.text : '')).join('')
              : '';
        onText(text, at);
      });
      const sentAt = now();
      const done = postStream(
        target,
        `/threads/${thread.thread_id}/runs/stream`,
        { assistant_id: 'agent', input: { messages: [{ role: 'user', content: specText(spec) }] }, stream_mode: ['messages-tuple'] },
        (chunk, at) => parser.push(chunk, at),
        300_000,
      ).then(() => undefined);
      return { sentAt, done };
    };
    await measure(ctx, server, ask, result);
    result.ran = true;
  } catch (error) {
    result.reason = (error as Error).message;
    ctx.log(`  ${result.name} did not complete: ${result.reason}`);
  } finally {
    await server?.stop();
  }
  return result;
}

async function versionOf(pkg: string, from = path.join(BENCH_DIR, '..')): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  try {
    const json = JSON.parse(await readFile(path.join(from, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string };
    return json.version;
  } catch {
    return 'not installed';
  }
}

export async function peers(ctx: Context): Promise<PeersResult> {
  ctx.log('f. peers on the same emulator: Vercel AI SDK, LangGraph server');
  try {
    return { peers: [await aiSdk(ctx), await langGraph(ctx)] };
  } finally {
    closeHttpAgent();
  }
}
