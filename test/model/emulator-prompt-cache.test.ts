import Anthropic from '@anthropic-ai/sdk';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { placeCacheBreakpoints } from '../../src/engine/history/index.ts';
import type { RequestMessage } from '../../src/engine/history/request-message.ts';
import type { PrefixPoint } from '../../src/emulator/cache-prefix.ts';
import { AnthropicEmulator, textTurn } from '../../src/emulator/index.ts';
import { PromptCache } from '../../src/emulator/prompt-cache.ts';
import { rejection } from './wire.ts';

// Prompt-cache accounting through the real SDK, with requests laid out by Parley's own breakpoint
// placement (tools, system, the user turn before the newest, the newest). The emulator counts a
// token as 4 characters.

const MODEL = 'claude-sonnet-4-6'; // minimum cacheable prefix: 1,024 tokens
const SYSTEM = 'You are a careful assistant. '.repeat(160); // 4,640 characters: 1,160 tokens
const TOOL: Anthropic.Tool = { name: 'lookup', description: 'Looks a thing up.', input_schema: { type: 'object', properties: { q: { type: 'string' } } } };

let clock = 1_000_000;
const emulator = new AnthropicEmulator({ offline: { tokensPerSecond: Infinity }, promptCache: { now: () => clock } });
const lowMinimum = new AnthropicEmulator({ offline: { tokensPerSecond: Infinity }, promptCache: { minCacheableTokens: 1 } });
let url = '';
let lowURL = '';

const client = (baseURL = url): Anthropic => new Anthropic({ apiKey: 'test-key', baseURL, maxRetries: 0 });

beforeAll(async () => {
  [url, lowURL] = await Promise.all([emulator.start(), lowMinimum.start()]);
});

afterEach(() => {
  emulator.reset();
  lowMinimum.reset();
  clock = 1_000_000;
});

afterAll(async () => {
  await Promise.all([emulator.close(), lowMinimum.close()]);
});

function request(messages: RequestMessage[], model = MODEL): Anthropic.MessageCreateParamsNonStreaming {
  const placed = placeCacheBreakpoints({ tools: [TOOL], system: [{ type: 'text', text: SYSTEM }], messages });
  return { model, max_tokens: 256, tools: placed.tools, system: placed.system, messages: placed.messages };
}

const userTurn = (n: number, text = `Question ${n}: tell me about item ${n} of the list, in a sentence or two.`): RequestMessage => ({
  role: 'user',
  content: [{ type: 'text', text }],
});

async function total(params: Anthropic.MessageCreateParamsNonStreaming): Promise<number> {
  const { model, tools, system, messages } = params;
  return (await client().messages.countTokens({ model, messages, ...(tools ? { tools } : {}), ...(system ? { system } : {}) })).input_tokens;
}

const inputOf = (usage: Anthropic.Usage): number =>
  usage.input_tokens + (usage.cache_read_input_tokens ?? 0) + (usage.cache_creation_input_tokens ?? 0);

describe('prompt caching over a conversation', () => {
  it('reads the cache on every turn after the first, and one edit of the past misses once', async () => {
    const history: RequestMessage[] = [];
    const usages: Anthropic.Usage[] = [];
    const send = async (): Promise<Anthropic.Usage> => {
      const params = request(history);
      const message = await client().messages.stream({ ...params, stream: true }).finalMessage();
      expect(inputOf(message.usage)).toBe(await total(params));
      history.push({ role: 'assistant', content: message.content.flatMap((b) => (b.type === 'text' ? [{ type: 'text' as const, text: b.text }] : [])) });
      usages.push(message.usage);
      return message.usage;
    };
    for (let n = 1; n <= 10; n += 1) {
      history.push(userTurn(n));
      await send();
    }
    expect(usages[0]).toMatchObject({ cache_read_input_tokens: 0 });
    expect(usages[0]?.cache_creation_input_tokens).toBeGreaterThan(1_024);
    for (let n = 1; n < 10; n += 1) {
      const [previous, current] = [usages[n - 1], usages[n]];
      // This turn reads exactly what the last one wrote up to its newest user turn.
      expect(current?.cache_read_input_tokens).toBe((previous?.cache_read_input_tokens ?? 0) + (previous?.cache_creation_input_tokens ?? 0));
      expect(current?.cache_creation).toEqual({ ephemeral_5m_input_tokens: current?.cache_creation_input_tokens, ephemeral_1h_input_tokens: 0 });
    }

    // The third user turn is edited: both message breakpoints miss, and looking back 20 blocks
    // from the older one finds what was written at the second user turn, the last unchanged one.
    history[4] = userTurn(3, 'Question 3, reworded: tell me about item three.');
    history.push(userTurn(11));
    const edited = await send();
    const unchanged = await total({ ...request(history), messages: history.slice(0, 3) });
    expect(edited.cache_read_input_tokens).toBe(unchanged);
    expect(edited.cache_read_input_tokens).toBeLessThan(usages[9]?.cache_read_input_tokens ?? 0);
    history.push(userTurn(12));
    const after = await send();
    expect(after.cache_read_input_tokens).toBe((edited.cache_read_input_tokens ?? 0) + (edited.cache_creation_input_tokens ?? 0));
  });

  it('keys on the model: the same prompt for another model is written anew', async () => {
    const params = request([userTurn(1)]);
    const first = await client().messages.create(params);
    const other = await client().messages.create({ ...params, model: 'claude-sonnet-5' });
    expect(other.usage).toMatchObject({ cache_read_input_tokens: 0, cache_creation_input_tokens: first.usage.cache_creation_input_tokens });
    const again = await client().messages.create(params);
    expect(again.usage).toMatchObject({ cache_read_input_tokens: first.usage.cache_creation_input_tokens, cache_creation_input_tokens: 0 });
  });

  it('does not count caching in count_tokens, which counts the whole prompt', async () => {
    const params = request([userTurn(1)]);
    const message = await client().messages.create(params);
    expect(await total(params)).toBe(inputOf(message.usage));
    expect(await total(params)).toBe(inputOf(message.usage));
  });
});

describe('prompt cache lifetime', () => {
  const cached = (ttl?: '5m' | '1h'): Anthropic.MessageCreateParamsNonStreaming => ({
    model: MODEL,
    max_tokens: 64,
    system: [{ type: 'text', text: SYSTEM, cache_control: ttl ? { type: 'ephemeral', ttl } : { type: 'ephemeral' } }],
    messages: [{ role: 'user', content: 'Hello.' }],
  });
  const readOf = async (params: Anthropic.MessageCreateParamsNonStreaming): Promise<number> =>
    (await client().messages.create(params)).usage.cache_read_input_tokens ?? 0;

  it('keeps an entry five minutes from its last use, and a read refreshes it', async () => {
    const first = await client().messages.create(cached());
    expect(first.usage.cache_creation).toEqual({ ephemeral_5m_input_tokens: 1_160, ephemeral_1h_input_tokens: 0 });
    clock += 5 * 60_000 - 1;
    expect(await readOf(cached())).toBe(1_160);
    clock += 5 * 60_000 - 1;
    expect(await readOf(cached())).toBe(1_160);
    clock += 5 * 60_000 + 1;
    const expired = await client().messages.create(cached());
    expect(expired.usage).toMatchObject({ cache_read_input_tokens: 0, cache_creation_input_tokens: 1_160 });
  });

  it('keeps a 1h entry an hour, and reports its writes as such', async () => {
    const first = await client().messages.create(cached('1h'));
    expect(first.usage.cache_creation).toEqual({ ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 1_160 });
    clock += 59 * 60_000;
    expect(await readOf(cached('1h'))).toBe(1_160);
    clock += 61 * 60_000;
    expect(await readOf(cached('1h'))).toBe(0);
  });

  it('refuses a ttl the API does not offer', async () => {
    const params = cached();
    const bad = { ...params, system: [{ type: 'text', text: SYSTEM, cache_control: { type: 'ephemeral', ttl: '10m' } }] };
    const error = await rejection(client().messages.create(bad as unknown as Anthropic.MessageCreateParamsNonStreaming));
    expect(error).toBeInstanceOf(Anthropic.BadRequestError);
  });
});

describe('what may be cached', () => {
  it('caches no prefix shorter than the model minimum, unless the emulator is told a lower one', async () => {
    // 1,160 tokens: above Sonnet 4.6's 1,024, below Opus 4.6's 4,096.
    const params = request([userTurn(1)]);
    const opus = { ...params, model: 'claude-opus-4-6' };
    await client().messages.create(opus);
    const again = await client().messages.create(opus);
    expect(again.usage).toMatchObject({ cache_read_input_tokens: 0, cache_creation_input_tokens: 0 });
    expect(again.usage.input_tokens).toBe(await total(opus));

    const short: Anthropic.MessageCreateParamsNonStreaming = {
      model: 'claude-opus-4-6',
      max_tokens: 64,
      system: [{ type: 'text', text: 'Be brief.', cache_control: { type: 'ephemeral' } }],
      messages: [{ role: 'user', content: 'Hi.' }],
    };
    await client(lowURL).messages.create(short);
    expect((await client(lowURL).messages.create(short)).usage.cache_read_input_tokens).toBe(3);
  });

  it('finds an earlier entry within 20 blocks of a breakpoint, and none farther back', async () => {
    const blocks = (marked: number): Anthropic.TextBlockParam[] =>
      Array.from({ length: 30 }, (_, i) => ({ type: 'text' as const, text: `Block ${String(i).padStart(2, '0')}.`, ...(i === marked ? { cache_control: { type: 'ephemeral' as const } } : {}) }));
    const ask = (marked: number): Anthropic.MessageCreateParamsNonStreaming => ({ model: MODEL, max_tokens: 64, messages: [{ role: 'user', content: blocks(marked) }] });
    const written = await client(lowURL).messages.create(ask(5));
    const atFive = written.usage.cache_creation_input_tokens ?? 0;
    expect(atFive).toBeGreaterThan(0);
    // Block 25 looks back over blocks 25..6: block 5 is one too far.
    expect((await client(lowURL).messages.create(ask(25))).usage.cache_read_input_tokens).toBe(0);
    // Block 24 looks back over blocks 24..5.
    const found = await client(lowURL).messages.create(ask(24));
    expect(found.usage.cache_read_input_tokens).toBe(atFive);
  });

  it('counts scripted replies the same way', async () => {
    emulator.enqueue(textTurn('one'), textTurn('two'));
    const params = request([userTurn(1)]);
    await client().messages.create(params);
    const second = await client().messages.create(params);
    expect(second.usage.cache_read_input_tokens).toBeGreaterThan(1_024);
    expect(second.content).toEqual([{ type: 'text', text: 'two' }]);
  });
});

describe('the cache itself', () => {
  it('is bounded: past its cap the least recently used entry goes first', () => {
    const cache = new PromptCache({ maxEntries: 2, now: () => 0 });
    const point = (hash: string): PrefixPoint[] => [{ hash, tokens: 10, breakpoint: '5m' }];
    const write = (hash: string): number => {
      const lookup = cache.lookup(point(hash), 10, 1);
      lookup.commit();
      return lookup.usage.cache_read_input_tokens;
    };
    expect([write('a'), write('b'), write('a')]).toEqual([0, 0, 10]);
    write('c'); // evicts b, the least recently used
    expect(cache.size).toBe(2);
    expect([write('a'), write('b')]).toEqual([10, 0]);
  });
});
