import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnthropicEmulator, stallAfter, textTurn } from '../../src/model/emulator/index.ts';
import { startTestApp } from '../support/app.ts';
import { createRpcClient } from '../support/clients.ts';
import { conversationApi, repliesTo, textOf } from '../support/conversation.ts';

let emulator: AnthropicEmulator;
let url: string;

beforeAll(async () => {
  emulator = new AnthropicEmulator();
  url = await emulator.start();
});

afterAll(async () => {
  await emulator?.close();
});

describe('shutting down', () => {
  it('gives a prompt still running after the grace period back to the queue, and another instance answers it', async () => {
    const env = { ANTHROPIC_API_KEY: 'test-key', ANTHROPIC_BASE_URL: url, PARLEY_SHUTDOWN_GRACE_MS: '100' };
    const first = await startTestApp(env);
    const client = createRpcClient('grpc-js', first.baseUrl);
    emulator.enqueue(stallAfter(3, textTurn('this answer never finishes on the first instance')), textTurn('answered after the restart'));
    const api = conversationApi(client);
    const id = await api.create();
    const sent = await api.send(id, 'please answer');
    await emulator.waitForRequests(1);
    client.close();
    await first.app.close();

    const second = await startTestApp(env, { databaseUrl: first.databaseUrl });
    const again = createRpcClient('connect-node/connect', second.baseUrl);
    try {
      const messages = await conversationApi(again).settled(id);
      expect(messages.find((m) => m.id === sent.id)!.status).toBe('MESSAGE_STATUS_COMPLETED');
      const replies = repliesTo(messages, sent.id);
      expect(replies.map((r) => [r.status, r.error?.code])).toEqual([
        ['MESSAGE_STATUS_FAILED', 'interrupted'],
        ['MESSAGE_STATUS_COMPLETED', undefined],
      ]);
      expect(textOf(replies[1]!)).toBe('answered after the restart');
    } finally {
      again.close();
      await second.close();
    }
  });
});
