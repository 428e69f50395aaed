import { Code } from '@connectrpc/connect';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnthropicEmulator, stallAfter, textTurn } from '../../src/emulator/index.ts';
import { startTestApp } from '../support/app.ts';
import { CLIENT_KINDS, createRpcClient } from '../support/clients.ts';
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
    const lines: Array<Record<string, unknown>> = [];
    const first = await startTestApp(env, { logLines: (line) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
    const client = createRpcClient('grpc-js', first.baseUrl);
    emulator.enqueue(stallAfter(3, textTurn('this answer never finishes on the first instance')), textTurn('answered after the restart'));
    const api = conversationApi(client);
    const id = await api.create();
    const sent = await api.send(id, 'please answer');
    await emulator.waitForRequests(1);
    client.close();
    await first.app.close();
    // The operator sees which reply the shutdown cut off.
    expect(lines.filter((line) => line.level === 'warn' && line.messageId === sent.id).map((line) => line.msg)).toEqual([
      'shutdown cuts off a running reply; the message is queued again',
    ]);

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

  it('ends open Subscribe streams with unavailable, after the events of the prompt it gave back, on every protocol', async () => {
    const env = { ANTHROPIC_API_KEY: 'test-key', ANTHROPIC_BASE_URL: url, PARLEY_SHUTDOWN_GRACE_MS: '100' };
    const server = await startTestApp(env);
    emulator.enqueue(stallAfter(3, textTurn('cut off by the shutdown')));
    const sender = createRpcClient('connect-node/connect', server.baseUrl);
    const clients = CLIENT_KINDS.map((kind) => createRpcClient(kind, server.baseUrl));
    try {
      const api = conversationApi(sender);
      const id = await api.create();
      // Each stream has its snapshot before the send, so the prompt's events reach every stream
      // as events (a snapshot read late could already reflect them all).
      const snapshots = clients.map(() => Promise.withResolvers<void>());
      const streams = clients.map((client, i) =>
        client.stream('Subscribe', { conversationId: id }, {
          timeoutMs: 30_000,
          onResponse: (response) => {
            if ((response as { snapshot?: unknown }).snapshot) snapshots[i]!.resolve();
          },
        }),
      );
      await Promise.all(snapshots.map((s) => s.promise));
      expect(server.app.hub.subscriberCount).toBe(clients.length);
      const sent = await api.send(id, 'please answer');
      await emulator.waitForRequests(1);
      const closing = Date.now();
      await server.app.close();
      const closedMs = Date.now() - closing;
      const results = await Promise.all(streams);
      for (const [i, result] of results.entries()) {
        expect({ client: CLIENT_KINDS[i], code: result.error?.code, message: result.error?.message }).toEqual({
          client: CLIENT_KINDS[i],
          code: Code.Unavailable,
          message: 'the server is shutting down. Subscribe again with after_seq to continue',
        });
        // The last event before the end: the user message queued again for another instance.
        const statuses = result.responses.flatMap((r) => {
          const changed = (r as { messageStatusChanged?: { message: { id: string; status: string } } }).messageStatusChanged;
          return changed ? [`${changed.message.id === sent.id ? 'user' : 'reply'} ${changed.message.status}`] : [];
        });
        expect(statuses.at(-1), CLIENT_KINDS[i]).toBe('user MESSAGE_STATUS_QUEUED');
      }
      console.log(`shutdown: ${clients.length} Subscribe streams ended with unavailable; app.close() took ${closedMs} ms (grace 100 ms)`);
    } finally {
      for (const client of [sender, ...clients]) client.close();
    }
  });
});
