// PARLEY_MAX_MESSAGE_CHARS and PARLEY_MAX_QUEUED_PER_CONVERSATION, as an operator sets them:
// the exact code and message at the limit, and nothing stored by a refused request.
import { Code } from '@connectrpc/connect';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../support/app.ts';
import { CLIENT_KINDS, createRpcClient, type RpcClient } from '../support/clients.ts';
import { conversationApi } from '../support/conversation.ts';

const MAX_CHARS = 50;
const MAX_QUEUED = 3;

let server: TestApp;
let clients: RpcClient[];
let api: ReturnType<typeof conversationApi>;

beforeAll(async () => {
  // No prompt runs, so every accepted message stays queued and counts against the limit.
  server = await startTestApp({
    PARLEY_MAX_MESSAGE_CHARS: String(MAX_CHARS),
    PARLEY_MAX_QUEUED_PER_CONVERSATION: String(MAX_QUEUED),
    PARLEY_MAX_CONCURRENT_PROMPTS: '0',
  });
  clients = CLIENT_KINDS.map((kind) => createRpcClient(kind, server.baseUrl));
  api = conversationApi(clients[0]!);
});

afterAll(async () => {
  for (const client of clients ?? []) client.close();
  await server?.close();
});

describe('message size', () => {
  it('accepts text of exactly the limit and refuses one character more, storing nothing', async () => {
    const id = await api.create();
    await api.send(id, 'x'.repeat(MAX_CHARS));
    for (const client of clients) {
      const result = await client.unary('SendMessage', { conversationId: id, text: 'y'.repeat(MAX_CHARS + 1) });
      expect(result.ok ? 'ok' : result.code, client.name).toBe(Code.InvalidArgument);
      if (!result.ok) expect(result.message, client.name).toBe(`text: must be at most ${MAX_CHARS} characters`);
    }
    expect((await api.messages(id)).map((m) => m.blocks?.[0]?.text?.text)).toEqual(['x'.repeat(MAX_CHARS)]);
  });

  it('bounds a client tool result the same way', async () => {
    const id = await api.create();
    const result = await clients[0]!.unary('SubmitToolResult', { conversationId: id, toolUseId: 'toolu_1', content: 'z'.repeat(MAX_CHARS + 1) });
    expect(result.ok ? 'ok' : [result.code, result.message]).toEqual([
      Code.InvalidArgument,
      `content: must be at most ${MAX_CHARS} characters`,
    ]);
  });
});

describe('queued messages per conversation', () => {
  it('refuses a send beyond the limit with resource_exhausted, storing nothing, and still answers a repeated send', async () => {
    const id = await api.create();
    const accepted = [];
    for (let i = 0; i < MAX_QUEUED; i++) accepted.push(await api.send(id, `message ${i}`, `req-${i}`));
    for (const client of clients) {
      const result = await client.unary('SendMessage', { conversationId: id, text: 'one too many' });
      expect(result.ok ? 'ok' : result.code, client.name).toBe(Code.ResourceExhausted);
      if (!result.ok) {
        expect(result.message, client.name).toBe(
          `conversation ${id} already has ${MAX_QUEUED} messages waiting; wait for some to be answered`,
        );
      }
    }
    // A retry of a send that was accepted is not a new message, so the full queue does not refuse it.
    expect((await api.send(id, 'message 0', 'req-0')).id).toBe(accepted[0]!.id);
    expect((await api.messages(id)).map((m) => m.id)).toEqual(accepted.map((m) => m.id));

    // The limit is per conversation.
    const other = await api.create();
    await api.send(other, 'elsewhere');
  });

  it('counts a cancelled message out of the queue', async () => {
    const id = await api.create();
    const accepted = [];
    for (let i = 0; i < MAX_QUEUED; i++) accepted.push(await api.send(id, `message ${i}`));
    const cancelled = await clients[0]!.unary('CancelPrompt', { conversationId: id, messageId: accepted[0]!.id });
    expect(cancelled.ok).toBe(true);
    await api.send(id, 'room again');
  });
});
