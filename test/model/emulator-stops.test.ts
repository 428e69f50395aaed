import Anthropic from '@anthropic-ai/sdk';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { AnthropicEmulator, OFFLINE_LABEL, pausedTurn, refusalTurn, textTurn, type ReplyBlock } from '../../src/emulator/index.ts';
import { parseSse, rejection } from './wire.ts';

// How replies stop, through the real SDK: refusals with their details, and paused turns continued.

const MODEL = 'claude-test';
const emulator = new AnthropicEmulator({ offline: { tokensPerSecond: Infinity } });
let url = '';
const client = (): Anthropic => new Anthropic({ apiKey: 'test-key', baseURL: url, maxRetries: 0 });
const hello = (text = 'Hello.'): Anthropic.MessageCreateParamsNonStreaming => ({
  model: MODEL,
  max_tokens: 256,
  messages: [{ role: 'user', content: text }],
});

beforeAll(async () => {
  url = await emulator.start();
});
afterEach(() => emulator.reset());
afterAll(() => emulator.close());

async function rawStream(body: unknown): Promise<ReturnType<typeof parseSse>> {
  const res = await fetch(`${url}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': 'k', 'anthropic-version': '2023-06-01' },
    body: JSON.stringify(body),
  });
  return parseSse(await res.text());
}

describe('refusals', () => {
  const details = { category: 'cyber', explanation: 'This request could enable malware development.' } as const;

  it('reach finalMessage() with stop_reason refusal and the stop details', async () => {
    emulator.enqueue(refusalTurn(details, { text: 'I can help with part of' }));
    const message = await client().messages.stream({ ...hello(), stream: true }).finalMessage();
    expect(message.stop_reason).toBe('refusal');
    expect(message.stop_details).toEqual({ type: 'refusal', ...details });
    expect(message.content).toEqual([{ type: 'text', text: 'I can help with part of' }]);
  });

  it('travel on message_delta, with null in message_start as for any reply', async () => {
    emulator.enqueue(refusalTurn(details));
    const events = await rawStream({ ...hello(), stream: true });
    const start = events.find((e) => e.event === 'message_start')?.data.message as Record<string, unknown>;
    expect(start).toMatchObject({ stop_reason: null, stop_details: null });
    const delta = events.find((e) => e.event === 'message_delta')?.data.delta;
    expect(delta).toEqual({ stop_reason: 'refusal', stop_sequence: null, stop_details: { type: 'refusal', ...details } });
  });

  it('are in the whole message, and null details are reported as null', async () => {
    emulator.enqueue(refusalTurn(), { blocks: [], stopReason: 'refusal' });
    const first = await client().messages.create(hello());
    expect(first).toMatchObject({ stop_reason: 'refusal', stop_details: { type: 'refusal', category: null, explanation: null } });
    const second = await client().messages.create(hello());
    expect(second.stop_details).toEqual({ type: 'refusal', category: null, explanation: null });
  });

  it('leave every other stop with stop_details null', async () => {
    emulator.enqueue(textTurn('Fine.'));
    const message = await client().messages.stream({ ...hello(), stream: true }).finalMessage();
    expect(message.stop_reason).toBe('end_turn');
    expect(message.stop_details).toBeNull();
  });
});

describe('a paused turn', () => {
  const SEARCH_ID = 'srvtoolu_01PausedSearch';
  const searching: ReplyBlock[] = [
    { type: 'text', text: 'Let me search for that.' },
    { type: 'server_tool_use', id: SEARCH_ID, name: 'web_search', input: { query: 'parley' } },
    {
      type: 'web_search_tool_result',
      tool_use_id: SEARCH_ID,
      content: [{ type: 'web_search_result', url: 'https://example.com/parley', title: 'Parley', encrypted_content: 'Eq0x', page_age: null }],
    },
  ];
  const params = (): Anthropic.MessageCreateParamsNonStreaming => ({ ...hello('What is Parley?'), tools: [{ type: 'web_search_20250305', name: 'web_search' }] });

  it('is continued to completion by sending its content back as the final assistant message', async () => {
    emulator.enqueue(pausedTurn(searching), textTurn('Parley is a conversation service.'));
    const paused = await client().messages.stream({ ...params(), stream: true }).finalMessage();
    expect(paused.stop_reason).toBe('pause_turn');
    expect(paused.content.map((b) => b.type)).toEqual(['text', 'server_tool_use', 'web_search_tool_result']);

    const continued = await client()
      .messages.stream({ ...params(), stream: true, messages: [...params().messages, { role: 'assistant', content: paused.content }] })
      .finalMessage();
    expect(continued.stop_reason).toBe('end_turn');
    expect(continued.content).toEqual([{ type: 'text', text: 'Parley is a conversation service.' }]);
    const sent = emulator.messageBodies.at(-1) as { messages: Array<{ role: string; content: unknown }> };
    expect(sent.messages.at(-1)).toEqual({ role: 'assistant', content: JSON.parse(JSON.stringify(paused.content)) as unknown });
  });

  it('is continued by the offline model, which goes on rather than answering the user again', async () => {
    emulator.enqueue(pausedTurn('Part one of the answer.'));
    const paused = await client().messages.create(hello('Explain.'));
    expect(paused.stop_reason).toBe('pause_turn');
    const continued = await client().messages.create({ ...hello('Explain.'), messages: [...hello('Explain.').messages, { role: 'assistant', content: paused.content }] });
    expect(continued.stop_reason).toBe('end_turn');
    const [block] = continued.content;
    expect(block?.type === 'text' ? block.text : '').toBe(`${OFFLINE_LABEL} (continuing the turn) That is all I have to add.`);
  });

  it('may not end in trailing whitespace: the API 400, in its words', async () => {
    const error = await rejection(
      client().messages.create({ ...hello(), messages: [...hello().messages, { role: 'assistant', content: [{ type: 'text', text: 'Part one. ' }] }] }),
    );
    expect(error).toBeInstanceOf(Anthropic.BadRequestError);
    expect(error).toMatchObject({ apiMessage: 'messages: final assistant content cannot end with trailing whitespace' });
    const asString = await rejection(client().messages.create({ ...hello(), messages: [...hello().messages, { role: 'assistant', content: 'Part one.\n' }] }));
    expect(asString).toMatchObject({ status: 400 });
    expect(emulator.answered).toHaveLength(0);
  });
});
