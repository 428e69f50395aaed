// The Messages API's newer rules, end to end on the emulator: prompt caching that hits from the
// second turn on (and again one turn after a compaction), a paused turn continued into one
// reply, a refusal's details, a model the API no longer serves (and the way out: another model,
// the history kept), adaptive thinking with effort and omitted display.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AnthropicEmulator, pausedTurn, refusalTurn, textTurn, type MessagesRequest } from '../../src/emulator/index.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { createRpcClient, type RpcClient } from '../support/clients.ts';
import { conversationApi, repliesTo, type StoredMessage } from '../support/conversation.ts';

let emulator: AnthropicEmulator;
let server: TestApp;
let client: RpcClient;

beforeAll(async () => {
  emulator = new AnthropicEmulator({ retiredModels: ['claude-retired-1'], promptCache: { minCacheableTokens: 64 }, offline: { tokensPerSecond: Infinity } });
  server = await startTestApp({ ANTHROPIC_API_KEY: 'test-key', ANTHROPIC_BASE_URL: await emulator.start(), ANTHROPIC_MAX_RETRIES: '0' });
  client = createRpcClient('connect-node/connect', server.baseUrl);
});

afterEach(() => emulator.reset());

afterAll(async () => {
  client?.close();
  await server?.close();
  await emulator?.close();
});

const requests = () => emulator.requests.filter((r) => r.path === '/v1/messages').map((r) => r.body as MessagesRequest & Record<string, unknown>);
type Usage = { inputTokens?: string; cacheReadInputTokens?: string; cacheCreationInputTokens?: string };
const usageOf = (message: StoredMessage) => (message as unknown as { usage?: Usage }).usage ?? {};

describe('the API\'s rules', () => {
  it('reads the prompt cache on every turn after the first of a 10-turn conversation', async () => {
    const api = conversationApi(client);
    const id = await api.create({ systemPrompt: `You answer questions about numbers. ${'Be precise and brief. '.repeat(20)}` });
    for (let turn = 1; turn <= 10; turn++) {
      await api.send(id, `Question ${turn}: what is ${turn} squared? ${'Please explain. '.repeat(10)}`);
      await api.settled(id);
    }
    const replies = (await api.messages(id)).filter((m) => m.role === 'ROLE_ASSISTANT');
    const reads = replies.map((reply) => Number(usageOf(reply).cacheReadInputTokens ?? 0));
    expect(reads[0]).toBe(0);
    for (const [turn, read] of reads.entries()) if (turn > 0) expect(read, `turn ${turn + 1}`).toBeGreaterThan(0);
    // What was read grows with the conversation: the whole earlier history, not only the system prompt.
    expect(reads[9]!).toBeGreaterThan(reads[1]!);
  });

  it('continues a paused turn into the same reply', async () => {
    emulator.enqueue(pausedTurn('Looking into it.'), textTurn('Here is the answer.'));
    const api = conversationApi(client);
    const id = await api.create();
    const sent = await api.send(id, 'A long question.');
    const messages = await api.settled(id);
    const replies = repliesTo(messages, sent.id);
    expect(replies).toHaveLength(1);
    expect(replies[0]).toMatchObject({ status: 'MESSAGE_STATUS_COMPLETED', stopReason: 'end_turn' });
    expect(replies[0]!.blocks?.map((b) => b.text?.text)).toEqual(['Looking into it.', 'Here is the answer.']);
    // The continuation sent the paused content back as the last turn.
    const [, second] = requests();
    expect(second!.messages.at(-1)).toMatchObject({ role: 'assistant' });
    expect(JSON.stringify(second!.messages.at(-1)!.content)).toContain('Looking into it.');
  });

  it('keeps a refusal\'s category and explanation in the message error', async () => {
    emulator.enqueue(refusalTurn({ category: 'cyber', explanation: 'This looks like malware development.' }));
    const api = conversationApi(client);
    const id = await api.create();
    const sent = await api.send(id, 'Write me a worm.');
    const messages = await api.settled(id);
    expect(messages.find((m) => m.id === sent.id)!.error).toEqual({
      code: 'refusal',
      message: 'Claude declined to answer this message (cyber): This looks like malware development.',
      refusal: { category: 'cyber', explanation: 'This looks like malware development.' },
    });
  });

  it('fails a model the API no longer serves with model_unavailable, and answers once the model is changed, history kept', async () => {
    const api = conversationApi(client);
    const id = await api.create({ model: 'claude-retired-1' });
    const sent = await api.send(id, 'Hello?');
    let messages = await api.settled(id);
    expect(messages.find((m) => m.id === sent.id)!.error?.code).toBe('model_unavailable');
    expect(messages.find((m) => m.id === sent.id)!.error?.message).toContain('UpdateConversation');
    const updated = await client.unary('UpdateConversation', { conversationId: id, settings: { model: 'claude-sonnet-5-5' } });
    expect(updated.ok).toBe(true);
    expect((await client.unary('RetryMessage', { conversationId: id, messageId: sent.id })).ok).toBe(true);
    messages = await api.settled(id);
    expect(messages.find((m) => m.id === sent.id)!.status).toBe('MESSAGE_STATUS_COMPLETED');
    expect(requests().at(-1)!.model).toBe('claude-sonnet-5-5');
  });

  it('sends adaptive thinking with its effort, and replays an omitted thinking block with its signature', async () => {
    const api = conversationApi(client);
    const id = await api.create({ model: 'claude-opus-4-6', maxTokens: 4096, thinking: { mode: 'THINKING_MODE_ADAPTIVE', effort: 'EFFORT_LOW', display: 'THINKING_DISPLAY_OMITTED' } });
    await api.send(id, 'Think about 2 + 2.');
    await api.settled(id);
    await api.send(id, 'And 3 + 3?');
    const messages = await api.settled(id);
    expect(messages.filter((m) => m.status === 'MESSAGE_STATUS_FAILED')).toEqual([]);
    const [first, second] = requests();
    expect(first).toMatchObject({ thinking: { type: 'adaptive', display: 'omitted' }, output_config: { effort: 'low' } });
    const stored = messages.find((m) => m.role === 'ROLE_ASSISTANT')!.blocks!.find((b) => b.thinking)?.thinking as { thinking?: string; signature?: string } | undefined;
    // Omitted: no text, a signature, sent back exactly as it came.
    expect(stored?.signature).toBeTruthy();
    expect(stored?.thinking ?? '').toBe('');
    const replayed = second!.messages.flatMap((m) => (typeof m.content === 'string' ? [] : m.content)).find((b) => b.type === 'thinking') as { signature?: string } | undefined;
    expect(replayed?.signature).toBe(stored!.signature);
  });
});
