import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnthropicEmulator, textTurn, type MessagesRequest } from '../../src/emulator/index.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { createRpcClient, type RpcClient } from '../support/clients.ts';
import { conversationApi, repliesTo, textOf } from '../support/conversation.ts';

let emulator: AnthropicEmulator;
let a: TestApp;
let b: TestApp;
let clients: RpcClient[];

beforeAll(async () => {
  emulator = new AnthropicEmulator();
  const url = await emulator.start();
  const env = { ANTHROPIC_API_KEY: 'test-key', ANTHROPIC_BASE_URL: url, PARLEY_MAX_CONCURRENT_PROMPTS: '8' };
  a = await startTestApp(env);
  b = await startTestApp(env, { databaseUrl: a.databaseUrl });
  clients = [createRpcClient('grpc-js', a.baseUrl), createRpcClient('connect-node/connect', b.baseUrl)];
});

afterAll(async () => {
  for (const client of clients ?? []) client.close();
  await b?.app.close();
  await a?.close();
  await emulator?.close();
});

function userTexts(request: MessagesRequest): string[] {
  return request.messages
    .filter((m) => m.role === 'user')
    .map((m) => (typeof m.content === 'string' ? m.content : m.content.filter((x) => x.type === 'text').map((x) => String(x.text)).join('')));
}

describe('two instances on one database', () => {
  it('answers every message of many conversations exactly once, one prompt at a time per conversation', async () => {
    // The reply names the question, and streams slowly enough for prompts to overlap.
    emulator.setResponder((request) => textTurn(`reply to ${userTexts(request).at(-1)}`, { tokensPerSecond: 400 }));
    const conversations = 12;
    const perConversation = 4;
    const ids: string[] = [];
    for (let c = 0; c < conversations; c++) ids.push(await conversationApi(clients[c % 2]!).create({ systemPrompt: `conversation ${c}` }));

    // Messages of one conversation arrive through both instances, interleaved.
    await Promise.all(
      ids.map(async (id, c) => {
        for (let m = 0; m < perConversation; m++) await conversationApi(clients[m % 2]!).send(id, `c${c} m${m}`);
      }),
    );
    const api = conversationApi(clients[0]!);
    for (const [c, id] of ids.entries()) {
      const messages = await api.settled(id, 60_000);
      const users = messages.filter((m) => m.role === 'ROLE_USER');
      expect(users.map((u) => u.status)).toEqual(Array(perConversation).fill('MESSAGE_STATUS_COMPLETED'));
      for (const user of users) {
        const replies = repliesTo(messages, user.id);
        expect(replies).toHaveLength(1);
        expect(textOf(replies[0]!)).toBe(`reply to ${textOf(user)}`);
      }
      // Serial per conversation: the k-th request of a conversation already carries the k-1
      // answers before it, which could not be if two of its prompts had overlapped.
      const requests = emulator.requests
        .map((r) => r.body as MessagesRequest)
        .filter((body) => JSON.stringify(body.system ?? '').includes(`conversation ${c}"`));
      expect(requests.map((r) => userTexts(r))).toEqual(
        Array.from({ length: perConversation }, (_, k) => Array.from({ length: k + 1 }, (_, i) => `c${c} m${i}`)),
      );
    }
    // Exactly one model call per message: nothing was answered twice.
    expect(emulator.requests).toHaveLength(conversations * perConversation);
  });
});
