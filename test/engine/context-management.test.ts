// Context management end to end, against the emulator with a small context window (it refuses
// an over-long request with the API's 400): a conversation longer than the window keeps
// working, compacted; old tool calls are cleared before anything is summarized; a message too
// long on its own fails with context_too_long and the queue moves on; the API's own count
// corrects an estimate that fell short.
import { Code } from '@connectrpc/connect';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CLEARED_TOOL_RESULT } from '../../src/engine/context/clear-tool-uses.ts';
import { AnthropicEmulator, textTurn, toolUseTurn, type MessagesRequest } from '../../src/emulator/index.ts';
import type { InProcessTool } from '../../src/tools/types.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { createRpcClient, type RpcClient } from '../support/clients.ts';
import { conversationApi, type StoredMessage } from '../support/conversation.ts';

const WINDOW = 6_000;
const MAX_TOKENS = 512;

/** A tool whose results are long: what clearing is for. */
const lookup: InProcessTool = {
  name: 'lookup',
  description: 'Looks a record up.',
  inputSchema: { type: 'object', properties: { key: { type: 'string' } } },
  execute: async (input) => `record ${String(input.key)}: ${'detail '.repeat(400)}`,
};

let emulator: AnthropicEmulator;
let server: TestApp;
let client: RpcClient;

beforeAll(async () => {
  emulator = new AnthropicEmulator({ contextTokens: WINDOW, offline: { tokensPerSecond: Infinity } });
  const url = await emulator.start();
  server = await startTestApp(
    { ANTHROPIC_API_KEY: 'test-key', ANTHROPIC_BASE_URL: url, PARLEY_MODEL_CONTEXT_TOKENS: String(WINDOW), PARLEY_DEFAULT_MAX_TOKENS: String(MAX_TOKENS) },
    { tools: [lookup] },
  );
  client = createRpcClient('connect-node/connect', server.baseUrl);
});

afterEach(() => emulator.reset());

afterAll(async () => {
  client?.close();
  await server?.close();
  await emulator?.close();
});

/** Every event of the conversation so far, replayed from its start. */
async function events(conversationId: string): Promise<Array<Record<string, unknown>>> {
  const result = await client.stream('Subscribe', { conversationId, afterSeq: '0' }, { timeoutMs: 1_500 });
  return result.responses as Array<Record<string, unknown>>;
}

const messageRequests = () => emulator.requests.filter((r) => r.path === '/v1/messages').map((r) => r.body as MessagesRequest);

describe('context management', () => {
  it('keeps a conversation longer than the window working: 50 long messages complete, compacted, with every original stored', async () => {
    const api = conversationApi(client);
    const id = await api.create();
    for (let i = 0; i < 50; i++) {
      await api.send(id, `Message ${i}. ${'This is a long message that fills the context window quickly. '.repeat(12)}`);
      const messages = await api.settled(id, 30_000);
      const failed = messages.filter((m) => m.status === 'MESSAGE_STATUS_FAILED');
      expect(failed.map((m) => m.error), `message ${i}`).toEqual([]);
    }
    const messages = await api.messages(id);
    expect(messages.filter((m) => m.role === 'ROLE_USER' && m.status === 'MESSAGE_STATUS_COMPLETED')).toHaveLength(50);
    expect(messages.filter((m) => m.role === 'ROLE_ASSISTANT' && m.status === 'MESSAGE_STATUS_COMPLETED')).toHaveLength(50);

    const compactions = (await events(id)).flatMap((e) => (e.contextCompacted ? [e.contextCompacted as Record<string, string>] : []));
    expect(compactions.length).toBeGreaterThanOrEqual(2);
    for (const c of compactions) {
      expect(Number(c.tokensAfter)).toBeLessThan(Number(c.tokensBefore));
      expect(Number((c.usage as unknown as Record<string, string>).outputTokens)).toBeGreaterThan(0);
    }
    // Each summary reaches further than the one before.
    const users = messages.filter((m) => m.role === 'ROLE_USER').map((m) => m.id);
    const reach = compactions.map((c) => users.indexOf(c.throughMessageId!));
    expect(reach.every((at, i) => at >= 0 && (i === 0 || at > reach[i - 1]!))).toBe(true);

    // The prompt cache: a compacted request misses it (its prefix is new), the next one reads it again.
    const replies = messages.filter((m) => m.role === 'ROLE_ASSISTANT');
    const readOf = (m: StoredMessage) => Number((m as unknown as { usage?: { cacheReadInputTokens?: string } }).usage?.cacheReadInputTokens ?? 0);
    for (const c of compactions) {
      const at = replies.findIndex((r) => r.id === c.replyId);
      expect(readOf(replies[at]!), `reply ${at}, compacted`).toBe(0);
      if (at + 1 < replies.length) expect(readOf(replies[at + 1]!), `reply ${at + 1}, after the compaction`).toBeGreaterThan(0);
    }
    expect(replies.filter((r) => readOf(r) > 0).length).toBeGreaterThan(replies.length / 2);

    // The last request opens with the latest summary and holds the newest message whole.
    const last = messageRequests().at(-1)!;
    const first = last.messages[0]!;
    expect(JSON.stringify(first.content)).toContain('A summary of the earlier part of this conversation');
    expect(JSON.stringify(last.messages.at(-1)!.content)).toContain('Message 49.');

    // The summarizing requests are on the ledger, and in the replies' usage.
    const db = new pg.Client({ connectionString: server.databaseUrl });
    await db.connect();
    try {
      const { rows } = await db.query<{ count: string }>(`select count(*) from usage_record where conversation_id = $1 and purpose = 'compaction'`, [id]);
      expect(Number(rows[0]!.count)).toBe(compactions.length);
    } finally {
      await db.end();
    }
  }, 120_000);

  it('clears old tool calls before it summarizes anything, keeping the newest three whole', async () => {
    const api = conversationApi(client);
    const id = await api.create({ enabledTools: ['lookup'] });
    for (let i = 0; i < 8; i++) {
      emulator.enqueue(toolUseTurn('lookup', { key: `k${i}` }, { id: `toolu_${i}` }), textTurn(`Found k${i}.`));
      await api.send(id, `Look up k${i}.`);
      const messages = await api.settled(id);
      expect(messages.filter((m: StoredMessage) => m.status === 'MESSAGE_STATUS_FAILED')).toEqual([]);
    }
    const last = messageRequests().at(-1)!;
    const results = last.messages.flatMap((m) => (typeof m.content === 'string' ? [] : m.content.filter((b) => b.type === 'tool_result')));
    const text = (b: (typeof results)[number]) => JSON.stringify((b as { content?: unknown }).content);
    expect(results).toHaveLength(8);
    // Eight calls, three kept: five cleared (a step of five).
    expect(results.map(text).filter((t) => t.includes(CLEARED_TOOL_RESULT)).length).toBe(5);
    expect(results.slice(-3).every((b) => text(b).includes('detail'))).toBe(true);
    const uses = last.messages.flatMap((m) => (typeof m.content === 'string' ? [] : m.content.filter((b) => b.type === 'tool_use')));
    expect(uses.map((b) => JSON.stringify((b as unknown as { input: unknown }).input))).toEqual(['{}', '{}', '{}', '{}', '{}', '{"key":"k5"}', '{"key":"k6"}', '{"key":"k7"}']);
    expect((await events(id)).some((e) => e.contextCompacted)).toBe(false);
  });

  it('fails a message too long on its own with context_too_long, and answers the next one', async () => {
    const api = conversationApi(client);
    const id = await api.create();
    const huge = await api.send(id, 'word '.repeat(WINDOW * 2));
    const small = await api.send(id, 'And a short one.');
    const messages = await api.settled(id);
    expect(messages.find((m) => m.id === huge.id)).toMatchObject({ status: 'MESSAGE_STATUS_FAILED', error: { code: 'context_too_long' } });
    expect(messages.find((m) => m.id === small.id)?.status).toBe('MESSAGE_STATUS_COMPLETED');
    // Refused before any model request: nothing was sent for it.
    expect(messageRequests().some((r) => JSON.stringify(r.messages).includes('word word word'))).toBe(false);
  });

  it('fits again by the API\'s own count when it refuses a request the estimate said would fit', async () => {
    // Parley believes the window is ten times larger than the emulator's.
    const tight = new AnthropicEmulator({ contextTokens: 2_500, offline: { tokensPerSecond: Infinity } });
    const other = await startTestApp({ ANTHROPIC_API_KEY: 'test-key', ANTHROPIC_BASE_URL: await tight.start(), PARLEY_MODEL_CONTEXT_TOKENS: '25000', PARLEY_DEFAULT_MAX_TOKENS: '256' });
    const otherClient = createRpcClient('grpc-js', other.baseUrl);
    try {
      const api = conversationApi(otherClient);
      const id = await api.create();
      for (let i = 0; i < 12; i++) {
        await api.send(id, `Message ${i}. ${'Some words to fill the window. '.repeat(20)}`);
        const messages = await api.settled(id, 30_000);
        expect(messages.filter((m) => m.status === 'MESSAGE_STATUS_FAILED').map((m) => m.error), `message ${i}`).toEqual([]);
      }
      const refused = tight.requests.filter((r) => r.path === '/v1/messages').length - 12;
      // Some requests were refused (and answered after a compaction); none twice in a row.
      expect(refused).toBeGreaterThan(0);
    } finally {
      otherClient.close();
      await other.close();
      await tight.close();
    }
  }, 60_000);

  it('refuses settings that cannot fit: a trigger past the window, max_tokens filling it', async () => {
    const api = client;
    const tooHigh = await api.unary('CreateConversation', { title: 't', settings: { contextManagement: { triggerTokens: WINDOW + 1 } } });
    expect(tooHigh).toMatchObject({ ok: false, code: Code.InvalidArgument });
    expect(tooHigh.ok === false && tooHigh.message).toContain('settings.context_management.trigger_tokens');
    const filling = await api.unary('CreateConversation', { title: 't', settings: { maxTokens: WINDOW } });
    expect(filling.ok === false && filling.message).toContain('settings.max_tokens');
    const off = await api.unary('CreateConversation', { title: 't', settings: { contextManagement: { strategy: 'CONTEXT_STRATEGY_OFF', triggerTokens: 2000 } } });
    expect(off.ok).toBe(true);
  });
});
