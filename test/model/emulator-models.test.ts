import Anthropic, { type APIError } from '@anthropic-ai/sdk';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { AnthropicEmulator, type ReplyTurn } from '../../src/emulator/index.ts';
import { rulesFor, UNKNOWN_MODEL } from '../../src/emulator/model-rules.ts';
import { parseSse, rejection } from './wire.ts';

// The rules that depend on the model a request names, through the real SDK: models the API no
// longer serves, adaptive thinking, its display, and effort.

const emulator = new AnthropicEmulator({
  offline: { tokensPerSecond: Infinity },
  retiredModels: ['claude-3-5-haiku-latest', 'claude-2*'],
});
let url = '';
const client = (): Anthropic => new Anthropic({ apiKey: 'test-key', baseURL: url, maxRetries: 0 });
const ask = (model: string, extra: Partial<Anthropic.MessageCreateParamsNonStreaming> = {}): Anthropic.MessageCreateParamsNonStreaming => ({
  model,
  max_tokens: 2048,
  messages: [{ role: 'user', content: 'Think about it, then answer.' }],
  ...extra,
});
const thinkingTurn: ReplyTurn = { blocks: [{ type: 'thinking', thinking: 'Let me weigh both options.' }, { type: 'text', text: 'The first.' }] };

beforeAll(async () => {
  url = await emulator.start();
});
afterEach(() => emulator.reset());
afterAll(() => emulator.close());

async function refused(promise: Promise<unknown>, status: number): Promise<APIError> {
  const error = await rejection(promise);
  expect(error).toMatchObject({ status });
  return error as APIError;
}

describe('models the API no longer serves', () => {
  it('answer 404 not_found_error `model: <name>`, which the SDK raises as NotFoundError', async () => {
    const error = await refused(client().messages.create(ask('claude-3-5-haiku-latest')), 404);
    expect(error).toBeInstanceOf(Anthropic.NotFoundError);
    expect(error).toMatchObject({ type: 'not_found_error', apiMessage: 'model: claude-3-5-haiku-latest' });
    expect(error.requestID).toMatch(/^req_/);
    const streamed = await refused(client().messages.stream({ ...ask('claude-2.1'), stream: true }).finalMessage(), 404);
    expect(streamed).toMatchObject({ apiMessage: 'model: claude-2.1' });
  });

  it('answer count_tokens the same way, and consume no scripted turn', async () => {
    emulator.enqueue({ blocks: [{ type: 'text', text: 'kept' }] });
    const error = await refused(client().messages.countTokens({ model: 'claude-2.0', messages: [{ role: 'user', content: 'x' }] }), 404);
    expect(error).toMatchObject({ type: 'not_found_error', apiMessage: 'model: claude-2.0' });
    await refused(client().messages.create(ask('claude-3-5-haiku-latest')), 404);
    expect(emulator.pending).toBe(1);
  });

  it('are only those listed: any other name is answered, as the offline model answers any', async () => {
    for (const model of ['claude-3-5-haiku-20241022', 'claude-sonnet-5-5', 'some-model-of-tomorrow']) {
      const message = await client().messages.create(ask(model));
      expect(message.model).toBe(model);
    }
  });
});

describe('adaptive thinking', () => {
  const adaptive = { thinking: { type: 'adaptive' as const } };

  it('is accepted by a model that supports it, and by a model the emulator does not know', async () => {
    for (const model of ['claude-opus-4-6', 'claude-sonnet-5-5', 'claude-test']) {
      emulator.enqueue(thinkingTurn);
      const message = await client().messages.stream({ ...ask(model, adaptive), stream: true }).finalMessage();
      expect(message.content[0]).toMatchObject({ type: 'thinking', thinking: 'Let me weigh both options.' });
    }
  });

  it('is refused with the API 400 by a model that does not support it', async () => {
    for (const model of ['claude-haiku-4-5-20251001', 'claude-opus-4-5']) {
      const error = await refused(client().messages.create(ask(model, adaptive)), 400);
      expect(error).toBeInstanceOf(Anthropic.BadRequestError);
      expect(error).toMatchObject({ type: 'invalid_request_error', apiMessage: 'adaptive thinking is not supported on this model' });
    }
  });

  it('with display omitted streams thinking blocks with no text but a signature, which verifies on replay', async () => {
    emulator.enqueue(thinkingTurn);
    const params = ask('claude-opus-4-7', { thinking: { type: 'adaptive', display: 'omitted' } });
    const res = await fetch(`${url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': 'k', 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({ ...params, stream: true }),
    });
    const events = parseSse(await res.text());
    const thinkingEvents = events.filter((e) => e.data.index === 0 && e.event !== 'ping');
    expect(thinkingEvents.map((e) => (e.data.delta as { type?: string } | undefined)?.type ?? e.event)).toEqual([
      'content_block_start',
      'signature_delta',
      'content_block_stop',
    ]);
    const delta = events.find((e) => e.event === 'message_delta')?.data.usage as { output_tokens: number };
    // The thinking is billed though not shown: as many tokens as when it is shown.
    emulator.enqueue(thinkingTurn);
    const shown = await client().messages.create({ ...params, thinking: { type: 'adaptive', display: 'summarized' } });
    expect(shown.content[0]).toMatchObject({ thinking: 'Let me weigh both options.' });
    expect(delta.output_tokens).toBe(shown.usage.output_tokens);

    emulator.enqueue(thinkingTurn);
    const message = await client().messages.stream({ ...params, stream: true }).finalMessage();
    const [thinking] = message.content;
    expect(thinking).toMatchObject({ type: 'thinking', thinking: '' });
    expect(thinking?.type === 'thinking' ? thinking.signature : '').not.toBe('');
    const replay = (block: Anthropic.ContentBlockParam): Anthropic.MessageCreateParamsNonStreaming => ({
      ...params,
      messages: [...params.messages, { role: 'assistant', content: [block, { type: 'text', text: 'The first.' }] }, { role: 'user', content: 'Why?' }],
    });
    const asSent = thinking?.type === 'thinking' ? { type: 'thinking' as const, thinking: '', signature: thinking.signature } : undefined;
    if (!asSent) throw new Error('expected a thinking block');
    await expect(client().messages.create(replay(asSent))).resolves.toMatchObject({ type: 'message' });
    await refused(client().messages.create(replay({ ...asSent, thinking: 'Let me weigh both options.' })), 400);
  });

  it('refuses a display the API does not offer', async () => {
    const bad = ask('claude-opus-4-7', { thinking: { type: 'adaptive', display: 'full' } as unknown as Anthropic.ThinkingConfigParam });
    const error = await refused(client().messages.create(bad), 400);
    expect(error.apiMessage).toBe("thinking.adaptive.display: Input should be 'summarized' or 'omitted'");
  });

  it('leaves thinking enabled with a budget working as before', async () => {
    emulator.enqueue(thinkingTurn);
    const message = await client().messages.create(ask('claude-opus-4-5', { thinking: { type: 'enabled', budget_tokens: 1024 } }));
    expect(message.content[0]).toMatchObject({ type: 'thinking', thinking: 'Let me weigh both options.' });
  });
});

describe('effort', () => {
  const effort = (level: string): Partial<Anthropic.MessageCreateParamsNonStreaming> => ({
    output_config: { effort: level as Anthropic.OutputConfig['effort'] },
  });

  it('accepts the levels a model supports', async () => {
    for (const [model, level] of [['claude-opus-4-6', 'max'], ['claude-sonnet-5-5', 'xhigh'], ['claude-opus-4-5', 'low'], ['claude-test', 'xhigh']] as const) {
      await expect(client().messages.create(ask(model, effort(level)))).resolves.toMatchObject({ type: 'message' });
    }
  });

  it('refuses a level the model lacks, naming the ones it has, as the API does', async () => {
    const error = await refused(client().messages.create(ask('claude-opus-4-5', effort('max'))), 400);
    expect(error.apiMessage).toBe("This model does not support effort level 'max'. Supported levels: high, low, medium.");
    const six = await refused(client().messages.create(ask('claude-sonnet-4-6', effort('xhigh'))), 400);
    expect(six.apiMessage).toBe("This model does not support effort level 'xhigh'. Supported levels: high, low, max, medium.");
  });

  it('refuses effort on a model without it, and a level that does not exist', async () => {
    const none = await refused(client().messages.create(ask('claude-haiku-4-5', effort('high'))), 400);
    expect(none.apiMessage).toBe('This model does not support the effort parameter.');
    const bogus = await refused(client().messages.create(ask('claude-test', effort('extreme'))), 400);
    expect(bogus.apiMessage).toBe("output_config.effort: Input should be 'low', 'medium', 'high', 'xhigh' or 'max'");
  });
});

describe('the model table', () => {
  it('matches the longest prefix, dated ids included, and knows nothing of other names', () => {
    expect(rulesFor('claude-opus-4-5-20251101')).toMatchObject({ adaptiveThinking: false, minCacheableTokens: 4096 });
    expect(rulesFor('claude-opus-4-1-20250805')).toMatchObject({ adaptiveThinking: false, minCacheableTokens: 1024 });
    expect(rulesFor('claude-3-5-haiku-20241022').minCacheableTokens).toBe(2048);
    expect(rulesFor('claude-opus-5')).toMatchObject({ adaptiveThinking: true, minCacheableTokens: 512 });
    expect(rulesFor('gpt-5')).toBe(UNKNOWN_MODEL);
  });
});
