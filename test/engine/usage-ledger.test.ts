// The usage ledger against what the model API reported: one row per model request that the API
// answered whole (each tool round, after the SDK's retries), none for one cut off, and GetUsage's
// totals equal the emulator's sums, over every client.
import type { JsonObject } from '@bufbuild/protobuf';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnthropicEmulator, errorEventAfter, rateLimited, textTurn, toolUseTurn } from '../../src/emulator/index.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { CLIENT_KINDS, createRpcClient, type RpcClient } from '../support/clients.ts';
import { conversationApi } from '../support/conversation.ts';

let emulator: AnthropicEmulator;
let server: TestApp;
let client: RpcClient;
const conversations: string[] = [];

beforeAll(async () => {
  emulator = new AnthropicEmulator();
  server = await startTestApp({ ANTHROPIC_API_KEY: 'test-key', ANTHROPIC_BASE_URL: await emulator.start(), ANTHROPIC_MAX_RETRIES: '3' });
  client = createRpcClient('grpc-js', server.baseUrl);
  const api = conversationApi(client);
  // A 429 the SDK retries, then two tool rounds and an answer: three model requests billed.
  emulator.enqueue(
    rateLimited({ retryAfterMs: 10 }),
    toolUseTurn('current_time', {}),
    toolUseTurn('current_time', {}),
    textTurn('It is late. '.repeat(20)),
    // Cut off by an error event: the API reports no final usage, so no row.
    errorEventAfter(3, textTurn('this will not finish')),
    textTurn('A plain answer.'),
  );
  for (const text of ['what time is it, twice?', 'fail please', 'and now?']) {
    const id = await api.create({ enabledTools: ['current_time'] });
    await api.send(id, text);
    await api.settled(id);
    conversations.push(id);
  }
});

afterAll(async () => {
  client?.close();
  await server?.close();
  await emulator?.close();
});

type Sums = Record<'modelRequests' | 'inputTokens' | 'outputTokens' | 'cacheCreationInputTokens' | 'cacheReadInputTokens', number>;

function sumTotals(totals: JsonObject[]): Sums {
  const sum: Sums = { modelRequests: 0, inputTokens: 0, outputTokens: 0, cacheCreationInputTokens: 0, cacheReadInputTokens: 0 };
  for (const total of totals) for (const key of Object.keys(sum) as Array<keyof typeof sum>) sum[key] += Number(total[key] ?? 0);
  return sum;
}

describe('the usage ledger', () => {
  it('holds one row per model request answered whole, with the usage the API reported', async () => {
    const answered = emulator.answered;
    expect(answered).toHaveLength(4);
    const expected = {
      modelRequests: answered.length,
      inputTokens: answered.reduce((n, a) => n + a.usage.input_tokens, 0),
      outputTokens: answered.reduce((n, a) => n + a.usage.output_tokens, 0),
      cacheCreationInputTokens: answered.reduce((n, a) => n + a.usage.cache_creation_input_tokens, 0),
      cacheReadInputTokens: answered.reduce((n, a) => n + a.usage.cache_read_input_tokens, 0),
    };
    for (const kind of CLIENT_KINDS) {
      const caller = createRpcClient(kind, server.baseUrl);
      try {
        const result = await caller.unary('GetUsage', {});
        expect(result.ok, kind).toBe(true);
        const totals = ((result.ok && (result.response as JsonObject).totals) || []) as JsonObject[];
        expect(sumTotals(totals), kind).toEqual(expected);
        expect(totals.every((t) => typeof t.day === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(t.day as string))).toBe(true);
      } finally {
        caller.close();
      }
    }
  });

  it('groups by conversation: three requests for the tool conversation, none for the one cut off, one for the last', async () => {
    const result = await client.unary('GetUsage', { groupBy: 'USAGE_GROUPING_CONVERSATION' });
    expect(result.ok).toBe(true);
    const totals = ((result.ok && (result.response as JsonObject).totals) || []) as JsonObject[];
    const requests = (id: string) => sumTotals(totals.filter((t) => t.conversationId === id)).modelRequests;
    expect(conversations.map(requests)).toEqual([3, 0, 1]);
  });

  it('outlives the conversation it counted', async () => {
    expect((await client.unary('DeleteConversation', { conversationId: conversations[2]! })).ok).toBe(true);
    const result = await client.unary('GetUsage', {});
    const totals = ((result.ok && (result.response as JsonObject).totals) || []) as JsonObject[];
    expect(sumTotals(totals).modelRequests).toBe(4);
  });
});
