// ForkConversation end to end: editing an earlier message through a fork answers the edited
// text with the history before it (thinking signatures replayed byte for byte, which the
// emulator verifies), and leaves the original as it was.
import { Code } from '@connectrpc/connect';
import type { JsonObject } from '@bufbuild/protobuf';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnthropicEmulator, type MessagesRequest } from '../../src/emulator/index.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { createRpcClient, type RpcClient } from '../support/clients.ts';
import { conversationApi, textOf } from '../support/conversation.ts';

let emulator: AnthropicEmulator;
let server: TestApp;
let client: RpcClient;

beforeAll(async () => {
  emulator = new AnthropicEmulator({ offline: { tokensPerSecond: Infinity } });
  server = await startTestApp({ ANTHROPIC_API_KEY: 'test-key', ANTHROPIC_BASE_URL: await emulator.start() });
  client = createRpcClient('grpc-js', server.baseUrl);
});

afterAll(async () => {
  client?.close();
  await server?.close();
  await emulator?.close();
});

describe('forking a conversation', () => {
  it('edits the 3rd of 6 messages: the fork holds 3, the 3rd edited and answered anew; the original keeps its 6', async () => {
    const api = conversationApi(client);
    const id = await api.create({ maxTokens: 4096, thinkingBudgetTokens: 1024 });
    for (const text of ['The first question.', 'The second question.', 'The third question.']) {
      await api.send(id, text);
      await api.settled(id);
    }
    const original = await api.messages(id);
    expect(original).toHaveLength(6);
    const third = original[2]!;
    expect(textOf(third)).toBe('The second question.');

    const forked = await client.unary('ForkConversation', { conversationId: id, messageId: third.id, text: 'The second question, rephrased.' });
    expect(forked.ok).toBe(true);
    const fork = ((forked.ok && forked.response) as JsonObject).conversation as { id: string; settings: JsonObject };
    expect(fork.settings).toMatchObject({ thinkingBudgetTokens: 1024 });
    const messages = await api.settled(fork.id);
    expect(messages.map((m) => [m.role, m.status])).toEqual([
      ['ROLE_USER', 'MESSAGE_STATUS_COMPLETED'],
      ['ROLE_ASSISTANT', 'MESSAGE_STATUS_COMPLETED'],
      ['ROLE_USER', 'MESSAGE_STATUS_COMPLETED'],
      ['ROLE_ASSISTANT', 'MESSAGE_STATUS_COMPLETED'],
    ]);
    expect(textOf(messages[0]!)).toBe('The first question.');
    expect(textOf(messages[2]!)).toBe('The second question, rephrased.');
    // Copied byte for byte (thinking included), under new ids; the reply to the edit is new.
    expect(messages[1]!.blocks).toEqual(original[1]!.blocks);
    expect(messages[1]!.id).not.toBe(original[1]!.id);
    expect(messages[3]!.id).not.toBe(original[3]!.id);
    // The request that answered the edit: the first exchange (its thinking signed, so the
    // emulator checked it) and the edited text, nothing of the original's later turns.
    const last = emulator.requests.filter((r) => r.path === '/v1/messages').at(-1)!.body as MessagesRequest;
    const sent = JSON.stringify(last.messages);
    expect(sent).toContain('The first question.');
    expect(sent).toContain('The second question, rephrased.');
    expect(sent).not.toContain('The third question.');
    expect(last.messages.flatMap((m) => (typeof m.content === 'string' ? [] : m.content)).some((b) => b.type === 'thinking')).toBe(true);
    // The original is as it was.
    expect(await api.messages(id)).toEqual(original);
  });

  it('refuses new text for an assistant message, and a fork at a message of another conversation', async () => {
    const api = conversationApi(client);
    const id = await api.create();
    await api.send(id, 'Hello.');
    const [, reply] = await api.settled(id);
    const edited = await client.unary('ForkConversation', { conversationId: id, messageId: reply!.id, text: 'no' });
    expect(edited.ok === false && edited.code).toBe(Code.FailedPrecondition);
    const other = await api.create();
    const elsewhere = await client.unary('ForkConversation', { conversationId: other, messageId: reply!.id });
    expect(elsewhere.ok === false && elsewhere.code).toBe(Code.FailedPrecondition);
    // At an assistant message without text: the history up to it.
    const plain = await client.unary('ForkConversation', { conversationId: id, messageId: reply!.id });
    const forkId = ((plain.ok && plain.response) as JsonObject).conversation as { id: string };
    expect((await api.messages(forkId.id)).map((m) => m.role)).toEqual(['ROLE_USER', 'ROLE_ASSISTANT']);
  });
});
