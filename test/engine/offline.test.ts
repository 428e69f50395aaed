import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../support/app.ts';
import { createRpcClient, type RpcClient } from '../support/clients.ts';
import { conversationApi, repliesTo, textOf } from '../support/conversation.ts';

// The service as a newcomer runs it: no API key, so the offline model answers (fast here).
let server: TestApp;
let client: RpcClient;

beforeAll(async () => {
  server = await startTestApp({ PARLEY_OFFLINE_TOKENS_PER_SECOND: '0' });
  client = createRpcClient('grpc-js', server.baseUrl);
});

afterAll(async () => {
  client?.close();
  await server?.close();
});

describe('with no API key', () => {
  it('answers three messages sent back to back, in order, each prompt carrying the earlier turns', async () => {
    const api = conversationApi(client);
    const id = await api.create();
    for (const text of ['first', 'second', 'third']) await api.send(id, text);
    const messages = await api.settled(id);
    const users = messages.filter((m) => m.role === 'ROLE_USER');
    expect(users.map((m) => [textOf(m), m.status])).toEqual(
      ['first', 'second', 'third'].map((text) => [text, 'MESSAGE_STATUS_COMPLETED']),
    );
    const replies = users.map((user) => {
      const [reply, ...more] = repliesTo(messages, user.id);
      expect(more).toEqual([]);
      expect(reply!.status).toBe('MESSAGE_STATUS_COMPLETED');
      return textOf(reply!);
    });
    replies.forEach((reply, k) => {
      expect(reply).toContain('[offline model]');
      expect(reply).toContain(`You said: “${['first', 'second', 'third'][k]}”`);
      // The k-th prompt's request held every earlier question and answer plus the newest.
      expect(reply).toContain(`user turn ${k + 1} of this conversation (${2 * k + 1} message`);
    });
  });

  it('walks a tool call: the offline model asks for an enabled built-in tool and reports its result', async () => {
    const api = conversationApi(client);
    const id = await api.create({ enabledTools: ['current_time'] });
    await api.send(id, 'What time is it in Europe/Paris?');
    const messages = await api.settled(id);
    const reply = messages.find((m) => m.role === 'ROLE_ASSISTANT')!;
    expect(reply.status).toBe('MESSAGE_STATUS_COMPLETED');
    const kinds = (reply.blocks ?? []).map((b) => Object.keys(b)[0]);
    expect(kinds, JSON.stringify(reply.blocks)).toEqual(['text', 'toolUse', 'toolResult', 'text']);
    const result = reply.blocks![2]!.toolResult as { content: string; isError?: boolean };
    expect(result.isError ?? false).toBe(false);
    expect(result.content).toContain('Europe/Paris');
    expect(textOf(reply)).toContain('The `current_time` tool returned:');
  });
});
