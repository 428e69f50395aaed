import Anthropic from '@anthropic-ai/sdk';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { AnthropicEmulator, refusalTurn, textTurn } from '../../src/emulator/index.ts';
import { parseSse } from './wire.ts';

// How replies stop, through the real SDK: refusals with their details.

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
