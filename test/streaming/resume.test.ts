import { create, equals } from '@bufbuild/protobuf';
import { createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GetConversationResponseSchema, ConversationService } from '../../gen/parley/v1/conversation_service_pb.ts';
import { ConversationState } from '../../src/client/index.ts';
import { AnthropicEmulator, textTurn, type MessagesRequest } from '../../src/emulator/index.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { grpcSubscriber, seededRandom, type GrpcSubscriber } from '../support/grpc-subscriber.ts';

const RUNS = 200;
const PARALLEL = 8;

let emulator: AnthropicEmulator;
let server: TestApp;
let subscriber: GrpcSubscriber;
let api: ReturnType<typeof createClient<typeof ConversationService>>;

beforeAll(async () => {
  emulator = new AnthropicEmulator();
  const url = await emulator.start();
  server = await startTestApp({ ANTHROPIC_API_KEY: 'test-key', ANTHROPIC_BASE_URL: url, PARLEY_DELTA_FLUSH_MS: '2' });
  subscriber = grpcSubscriber(server.baseUrl);
  api = createClient(ConversationService, createGrpcTransport({ baseUrl: server.baseUrl }));
  // Each reply is sized and paced by the seed carried in the question.
  emulator.setResponder((request: MessagesRequest) => {
    const last = request.messages.at(-1)!;
    const text = typeof last.content === 'string' ? last.content : String(last.content.find((b) => b.type === 'text')?.text ?? '');
    const seed = Number(/seed (\d+)/.exec(text)?.[1] ?? 0);
    const random = seededRandom(seed * 7919);
    const words = 15 + Math.floor(random() * 60);
    return textTurn(Array.from({ length: words }, (_, i) => `s${seed}w${i}`).join(' '), { tokensPerSecond: 1500 + random() * 3000 });
  });
});

afterAll(async () => {
  subscriber?.close();
  await server?.close();
  await emulator?.close();
});

interface RunReport {
  reconnects: number;
  duplicates: number;
  gaps: number;
  resets: number;
}

/** One seeded run: subscribe, send, drop the stream at random points, resume by seq, compare. */
async function run(seed: number): Promise<RunReport> {
  const random = seededRandom(seed);
  const { conversation } = await api.createConversation({ title: `resume ${seed}` });
  const conversationId = conversation!.id;
  const state = new ConversationState();
  const report: RunReport = { reconnects: 0, duplicates: 0, gaps: 0, resets: 0 };
  let sent = false;
  let done = false;
  let afterSeq: bigint | undefined;

  while (!done) {
    const stream = subscriber.open(conversationId, afterSeq);
    // Cut this connection after a random number of responses (the last connection runs out).
    let budget = report.reconnects >= 12 ? Infinity : 1 + Math.floor(random() * 8);
    for (;;) {
      const response = await stream.next();
      if (!response) throw new Error(`stream ended unexpectedly: ${stream.error?.message ?? 'no error'}`);
      if (response.event.case === 'snapshot' && response.event.value.reset) report.resets++;
      const outcome = state.apply(response);
      if (outcome === 'duplicate') report.duplicates++;
      if (outcome === 'gap') report.gaps++;
      if (!sent && response.event.case === 'snapshot') {
        sent = true;
        await api.sendMessage({ conversationId, text: `question with seed ${seed}` });
      }
      if (response.event.case === 'promptFinished' || response.event.case === 'promptFailed') done = true;
      if (done || --budget <= 0) break;
    }
    stream.cancel();
    afterSeq = state.seq;
    if (!done) report.reconnects++;
  }

  // The held state is exactly what GetConversation returns.
  const fresh = await api.getConversation({ conversationId });
  const held = state.toGetConversationResponse();
  if (!equals(GetConversationResponseSchema, held, create(GetConversationResponseSchema, fresh))) {
    throw new Error(`seed ${seed}: state differs from GetConversation\nheld: ${JSON.stringify(held.messages.map((m) => m.blocks))}\nfresh: ${JSON.stringify(fresh.messages.map((m) => m.blocks))}`);
  }
  return report;
}

describe('resuming a subscription by seq', () => {
  it(`ends with exactly GetConversation over ${RUNS} seeded runs of random disconnects, with no event seen twice`, async () => {
    const reports: RunReport[] = [];
    for (let start = 1; start <= RUNS; start += PARALLEL) {
      const seeds = Array.from({ length: Math.min(PARALLEL, RUNS - start + 1) }, (_, i) => start + i);
      reports.push(...(await Promise.all(seeds.map(run))));
    }
    const total = reports.reduce(
      (sum, r) => ({ reconnects: sum.reconnects + r.reconnects, duplicates: sum.duplicates + r.duplicates, gaps: sum.gaps + r.gaps, resets: sum.resets + r.resets }),
      { reconnects: 0, duplicates: 0, gaps: 0, resets: 0 },
    );
    console.log(`resume: ${RUNS} runs, ${total.reconnects} reconnects, ${total.duplicates} duplicates, ${total.gaps} gaps, ${total.resets} resets`);
    expect(total.reconnects).toBeGreaterThan(RUNS);
    expect(total).toMatchObject({ duplicates: 0, gaps: 0, resets: 0 });
  }, 240_000);
});
