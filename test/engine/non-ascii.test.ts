// Replies and messages whose UTF-8 size differs a lot from their length in characters.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnthropicEmulator, textTurn } from '../../src/emulator/index.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { createRpcClient, type RpcClient } from '../support/clients.ts';
import { conversationApi, repliesTo, textOf } from '../support/conversation.ts';

let emulator: AnthropicEmulator;
let server: TestApp;
let client: RpcClient;

beforeAll(async () => {
  emulator = new AnthropicEmulator();
  const url = await emulator.start();
  server = await startTestApp({ ANTHROPIC_API_KEY: 'test-key', ANTHROPIC_BASE_URL: url });
  client = createRpcClient('connect-node/connect', server.baseUrl);
});

afterAll(async () => {
  client?.close();
  await server?.close();
  await emulator?.close();
});

// PostgreSQL's NOTIFY payload limit is 8000 bytes. Events ride inline in the notification when
// they fit; the check once counted UTF-16 units, so 3,000 CJK characters (9,000 bytes) in one
// block_stopped event made pg_notify fail and the prompt end FAILED internal.
describe('text that is not ASCII', () => {
  it('a reply of 3,000 CJK characters (over the NOTIFY limit in bytes, under it in characters) completes whole', async () => {
    const text = '漢字'.repeat(1_500);
    emulator.enqueue(textTurn(text));
    const api = conversationApi(client);
    const id = await api.create();
    const sent = await api.send(id, 'write a lot of kanji');
    const messages = await api.settled(id);
    const [reply] = repliesTo(messages, sent.id);
    expect([reply!.status, reply!.error?.code]).toEqual(['MESSAGE_STATUS_COMPLETED', undefined]);
    expect(textOf(reply!)).toBe(text);
  });
});
