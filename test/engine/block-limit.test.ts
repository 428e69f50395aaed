// PARLEY_MAX_BLOCKS_PER_MESSAGE: a reply that would hold more blocks than the limit, streamed or
// through tool rounds, ends FAILED with `too_many_blocks`, keeps what it had, stays out of later
// histories, and the queue moves on.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AnthropicEmulator, textTurn, toolUseTurn, type MessagesRequest, type WireMessage } from '../../src/emulator/index.ts';
import type { InProcessTool } from '../../src/tools/types.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { createRpcClient, type RpcClient } from '../support/clients.ts';
import { conversationApi, repliesTo, textOf } from '../support/conversation.ts';

const MAX_BLOCKS = 4;

let emulator: AnthropicEmulator;
let server: TestApp;
let client: RpcClient;
let api: ReturnType<typeof conversationApi>;
const executed: string[] = [];

/** Records every run, so a test can tell which calls ran. */
const echo: InProcessTool = {
  name: 'echo',
  description: 'Repeats its input.',
  inputSchema: { type: 'object', properties: { say: { type: 'string' } }, required: ['say'] },
  async execute(input) {
    executed.push(String(input.say));
    return String(input.say);
  },
};

beforeAll(async () => {
  emulator = new AnthropicEmulator();
  const url = await emulator.start();
  server = await startTestApp(
    { ANTHROPIC_API_KEY: 'test-key', ANTHROPIC_BASE_URL: url, PARLEY_MAX_BLOCKS_PER_MESSAGE: String(MAX_BLOCKS) },
    { tools: [echo] },
  );
  client = createRpcClient('connect-node/grpc', server.baseUrl);
  api = conversationApi(client);
});

afterEach(() => {
  emulator.reset();
  executed.length = 0;
});

afterAll(async () => {
  client?.close();
  await server?.close();
  await emulator?.close();
});

function texts(messages: readonly WireMessage[]): string[] {
  return messages.map((m) =>
    typeof m.content === 'string' ? m.content : m.content.filter((b) => b.type === 'text').map((b) => String(b.text)).join(''),
  );
}

function textBlocks(...texts: string[]) {
  return { blocks: texts.map((text) => ({ type: 'text' as const, text })) };
}

describe('blocks per assistant message', () => {
  it('completes a reply that holds exactly the limit', async () => {
    emulator.enqueue(textBlocks('one ', 'two ', 'three ', 'four'));
    const id = await api.create();
    const sent = await api.send(id, 'four parts please');
    const messages = await api.settled(id);
    expect(messages.find((m) => m.id === sent.id)!.status).toBe('MESSAGE_STATUS_COMPLETED');
    const [reply] = repliesTo(messages, sent.id);
    expect(reply!.status).toBe('MESSAGE_STATUS_COMPLETED');
    expect(reply!.blocks).toHaveLength(MAX_BLOCKS);
  });

  it('fails a streamed reply at the first block past the limit, keeps the rest out of history, and moves on', async () => {
    emulator.enqueue(textBlocks('one ', 'two ', 'three ', 'four ', 'five ', 'six'), textTurn('a short answer'));
    const id = await api.create();
    const first = await api.send(id, 'six parts please');
    const second = await api.send(id, 'then something short');
    const messages = await api.settled(id);

    const user = messages.find((m) => m.id === first.id)!;
    expect(user.status).toBe('MESSAGE_STATUS_FAILED');
    expect(user.error?.code).toBe('too_many_blocks');
    expect(user.error?.message).toBe(
      `Claude's answer reached the limit of ${MAX_BLOCKS} blocks (text, thinking, tool calls and tool results) one reply may hold, and was stopped there; ask for a shorter answer or fewer tool calls.`,
    );
    const [partial] = repliesTo(messages, first.id);
    expect(partial!.status).toBe('MESSAGE_STATUS_FAILED');
    expect(partial!.error?.code).toBe('too_many_blocks');
    // What fitted is kept, nothing past the limit was stored.
    expect(partial!.blocks).toHaveLength(MAX_BLOCKS);
    expect(textOf(partial!)).toBe('one two three four ');

    expect(messages.find((m) => m.id === second.id)!.status).toBe('MESSAGE_STATUS_COMPLETED');
    expect(emulator.requests).toHaveLength(2);
    // A failed exchange never reaches the model again.
    expect(texts((emulator.requests[1]!.body as MessagesRequest).messages)).toEqual(['then something short']);
  });

  it('fails before running tools whose results would not fit, so no tool runs for nothing', async () => {
    // Round 1 stores text, tool_use and its result (3 blocks); round 2 asks for one more call,
    // the 4th block, whose result would be the 5th.
    emulator.enqueue(
      toolUseTurn('echo', { say: 'first' }, { preamble: 'Let me check.' }),
      toolUseTurn('echo', { say: 'second' }),
      textTurn('never asked for'),
    );
    const id = await api.create({ enabledTools: ['echo'] });
    const sent = await api.send(id, 'use the tool twice');
    const messages = await api.settled(id);

    const user = messages.find((m) => m.id === sent.id)!;
    expect(user.status).toBe('MESSAGE_STATUS_FAILED');
    expect(user.error?.code).toBe('too_many_blocks');
    expect(executed).toEqual(['first']);
    expect(emulator.requests).toHaveLength(2);
    const [reply] = repliesTo(messages, sent.id);
    expect(reply!.status).toBe('MESSAGE_STATUS_FAILED');
    expect(reply!.blocks!.map((b) => Object.keys(b).find((k) => k !== '$typeName'))).toEqual(['text', 'toolUse', 'toolResult', 'toolUse']);

    // The conversation goes on, without the failed exchange.
    emulator.enqueue(textTurn('fine'));
    const next = await api.send(id, 'just answer');
    const after = await api.settled(id);
    expect(after.find((m) => m.id === next.id)!.status).toBe('MESSAGE_STATUS_COMPLETED');
    expect(texts((emulator.requests.at(-1)!.body as MessagesRequest).messages)).toEqual(['just answer']);
  });
});
