import Anthropic, { type APIError } from '@anthropic-ai/sdk';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { ApiRequestError } from '../../src/emulator/errors.ts';
import { AnthropicEmulator, type ReplyBlock, type ReplyTurn, type WebSearchResult } from '../../src/emulator/index.ts';
import { planReply } from '../../src/emulator/reply-plan.ts';
import { parseMessagesRequest } from '../../src/emulator/validate.ts';
import { planContext as context } from './plan-context.ts';
import { parseSse, rejection, type SseEvent } from './wire.ts';

// Server tool blocks (the API runs the tool itself and the reply goes on), through the real SDK.

const MODEL = 'claude-test-model';
const emulator = new AnthropicEmulator();
let baseURL = '';

const client = (): Anthropic => new Anthropic({ apiKey: 'test-key', baseURL, maxRetries: 0 });

const hello = (text = 'What is the weather in Paris?'): Anthropic.MessageCreateParamsNonStreaming => ({
  model: MODEL,
  max_tokens: 1024,
  messages: [{ role: 'user', content: text }],
  tools: [{ type: 'web_search_20250305', name: 'web_search' }],
});

const SEARCH_ID = 'srvtoolu_01WYG3ziw53XMcoyKL4XcZmE';
const RESULTS: WebSearchResult[] = [
  {
    type: 'web_search_result',
    url: 'https://weather.example/paris',
    title: 'Paris weather today',
    encrypted_content: 'EqgfCioIARgBIiQ3YTAwMjY1Mi1mZjM5',
    page_age: '2 hours ago',
  },
  // No page_age in the script: the API sends null.
  { type: 'web_search_result', url: 'https://meteo.example/fr/paris', title: 'Météo Paris', encrypted_content: 'EpYCCioIARgBIiQ5' },
];

const searchTurn = (): ReplyTurn => ({
  blocks: [
    { type: 'text', text: 'Let me look that up.' },
    { type: 'server_tool_use', id: SEARCH_ID, name: 'web_search', input: { query: 'weather in Paris today' } },
    { type: 'web_search_tool_result', tool_use_id: SEARCH_ID, content: RESULTS },
    { type: 'text', text: 'It is sunny in Paris, around 24 degrees.' },
  ],
});

const EXPECTED_CONTENT = [
  { type: 'text', text: 'Let me look that up.' },
  { type: 'server_tool_use', id: SEARCH_ID, name: 'web_search', input: { query: 'weather in Paris today' } },
  {
    type: 'web_search_tool_result',
    tool_use_id: SEARCH_ID,
    content: [
      { ...RESULTS[0] },
      { ...RESULTS[1], page_age: null },
    ],
  },
  { type: 'text', text: 'It is sunny in Paris, around 24 degrees.' },
];

async function rawStream(body: unknown): Promise<SseEvent[]> {
  const response = await fetch(`${baseURL}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': 'k', 'anthropic-version': '2023-06-01' },
    body: JSON.stringify(body),
  });
  return parseSse(await response.text());
}

beforeAll(async () => {
  baseURL = await emulator.start();
});

afterEach(() => {
  emulator.reset();
});

afterAll(async () => {
  await emulator.close();
});

describe('server tool blocks through the SDK', () => {
  it('streams text, server_tool_use, web_search_tool_result, text, and the SDK accumulates the final message', async () => {
    emulator.enqueue(searchTurn());
    const stream = client().messages.stream(hello());
    const texts: string[] = [];
    const inputJson: string[] = [];
    const blocks: string[] = [];
    stream.on('text', (delta) => texts.push(delta));
    stream.on('inputJson', (delta) => inputJson.push(delta));
    stream.on('contentBlock', (block) => blocks.push(block.type));
    const message = await stream.finalMessage();

    expect(message.content).toEqual(EXPECTED_CONTENT);
    expect(message.stop_reason).toBe('end_turn');
    expect(blocks).toEqual(['text', 'server_tool_use', 'web_search_tool_result', 'text']);
    expect(texts.join('')).toBe('Let me look that up.It is sunny in Paris, around 24 degrees.');
    expect(JSON.parse(inputJson.join(''))).toEqual({ query: 'weather in Paris today' });
    // Output tokens: every text delta and every non-empty input delta; the result costs none.
    expect(message.usage.output_tokens).toBe(texts.length + inputJson.filter((chunk) => chunk.length > 0).length);
    expect(message.usage.server_tool_use).toEqual({ web_search_requests: 1, web_fetch_requests: 0 });
  });

  it('puts the blocks on the wire as the API does: tool input as deltas, the result whole in content_block_start', async () => {
    emulator.enqueue(searchTurn());
    const events = await rawStream({ ...hello(), stream: true });
    for (const { event, data } of events) expect(event).toBe(data.type);
    const ofBlock = (index: number): SseEvent['data'][] =>
      events.filter((e) => e.data.index === index && e.event.startsWith('content_block_')).map((e) => e.data);

    const use = ofBlock(1);
    expect(use[0]).toEqual({
      type: 'content_block_start',
      index: 1,
      content_block: { type: 'server_tool_use', id: SEARCH_ID, name: 'web_search', input: {} },
    });
    expect(use[1]).toEqual({ type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '' } });
    const deltas = use.filter((e) => e.type === 'content_block_delta');
    expect(deltas.every((e) => (e.delta as { type: string }).type === 'input_json_delta')).toBe(true);
    expect(use.at(-1)).toEqual({ type: 'content_block_stop', index: 1 });

    expect(ofBlock(2)).toEqual([
      { type: 'content_block_start', index: 2, content_block: EXPECTED_CONTENT[2] },
      { type: 'content_block_stop', index: 2 },
    ]);
    expect(events.filter((e) => e.event === 'content_block_start').map((e) => e.data.index)).toEqual([0, 1, 2, 3]);
    expect(events.at(-2)?.data).toMatchObject({
      delta: { stop_reason: 'end_turn' },
      usage: { server_tool_use: { web_search_requests: 1, web_fetch_requests: 0 } },
    });
  });

  it('returns the same content without streaming', async () => {
    emulator.enqueue(searchTurn());
    const message = await client().messages.create(hello());
    expect(message.content).toEqual(EXPECTED_CONTENT);
    expect(message.stop_reason).toBe('end_turn');
    expect(message.usage.server_tool_use).toEqual({ web_search_requests: 1, web_fetch_requests: 0 });
  });

  it('does not count a failed search, and reports no server tool usage without server tools', async () => {
    emulator.enqueue({
      blocks: [
        { type: 'server_tool_use', id: SEARCH_ID, name: 'web_search', input: { query: 'x' } },
        { type: 'web_search_tool_result', tool_use_id: SEARCH_ID, content: { type: 'web_search_tool_result_error', error_code: 'max_uses_exceeded' } },
        { type: 'text', text: 'The search failed.' },
      ],
    });
    const failed = await client().messages.stream(hello()).finalMessage();
    expect(failed.content[1]).toEqual({
      type: 'web_search_tool_result',
      tool_use_id: SEARCH_ID,
      content: { type: 'web_search_tool_result_error', error_code: 'max_uses_exceeded' },
    });
    expect(failed.usage.server_tool_use).toBeUndefined();

    emulator.enqueue({ blocks: [{ type: 'text', text: 'Plain.' }] });
    const plain = await client().messages.stream(hello()).finalMessage();
    expect(plain.usage.server_tool_use).toBeUndefined();
  });

  it('accepts the blocks sent back in history, as the API does', async () => {
    emulator.enqueue(searchTurn());
    const first = await client().messages.stream(hello()).finalMessage();
    emulator.enqueue({ blocks: [{ type: 'text', text: 'You are welcome.' }] });
    const params = hello();
    const second = await client().messages.create({
      ...params,
      messages: [...params.messages, { role: 'assistant', content: first.content }, { role: 'user', content: 'Thanks!' }],
    });
    expect(second.content).toEqual([{ type: 'text', text: 'You are welcome.' }]);
    const sent = emulator.requests.at(-1)?.body as { messages: Array<{ content: unknown }> };
    expect(sent.messages[1]?.content).toEqual(EXPECTED_CONTENT);
  });

  it('refuses malformed server tool blocks in history', async () => {
    const withAssistant = (content: unknown[]): Anthropic.MessageCreateParamsNonStreaming =>
      ({
        ...hello(),
        messages: [
          { role: 'user', content: 'go' },
          { role: 'assistant', content },
          { role: 'user', content: 'and?' },
        ],
      }) as Anthropic.MessageCreateParamsNonStreaming;
    const noId = await rejection(client().messages.create(withAssistant([{ type: 'server_tool_use', name: 'web_search', input: {} }])));
    expect(noId).toBeInstanceOf(Anthropic.BadRequestError);
    expect((noId as APIError).message).toContain('messages.1.content.0.id: Field required');

    const badContent = await rejection(
      client().messages.create(
        withAssistant([
          { type: 'server_tool_use', id: SEARCH_ID, name: 'web_search', input: {} },
          { type: 'web_search_tool_result', tool_use_id: SEARCH_ID, content: 'results' },
        ]),
      ),
    );
    expect((badContent as APIError).message).toContain('messages.1.content.1.content: Input should be a valid list');
    expect(emulator.pending).toBe(0);
  });
});

describe('server tool blocks in the plan', () => {
  const blockArbitrary: fc.Arbitrary<ReplyBlock> = fc.oneof(
    fc.record({ type: fc.constant('text' as const), text: fc.string({ minLength: 1, maxLength: 40 }) }),
    fc.record({ type: fc.constant('tool_use' as const), name: fc.constant('t'), input: fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 10 })) }),
    fc.record({
      type: fc.constant('server_tool_use' as const),
      id: fc.constant(SEARCH_ID),
      name: fc.constant('web_search' as const),
      input: fc.record({ query: fc.string({ maxLength: 30 }) }),
    }),
    fc.record({ type: fc.constant('web_search_tool_result' as const), tool_use_id: fc.constant(SEARCH_ID), content: fc.constant(RESULTS) }),
  );

  it('keeps stream indexes and message positions equal, counts tokens and stops as the API does', () => {
    fc.assert(
      fc.property(fc.array(blockArbitrary, { maxLength: 6 }), fc.integer({ min: 1, max: 40 }), (blocks, maxTokens) => {
        const plan = planReply({ blocks }, context(maxTokens));
        const started = plan.events.filter((e) => e.data.type === 'content_block_start').map((e) => e.data.index);
        expect(started).toEqual(plan.message.content.map((_, i) => i));
        const tokens = plan.events.reduce((sum, e) => sum + e.tokens, 0);
        expect(plan.message.usage.output_tokens).toBe(tokens);
        expect(tokens).toBeLessThanOrEqual(maxTokens);
        const sentClientTool = plan.message.content.some((block) => block.type === 'tool_use');
        if (plan.message.stop_reason !== 'max_tokens') {
          expect(plan.message.content).toHaveLength(blocks.length);
          // A server tool never makes the stop reason tool_use on its own.
          expect(plan.message.stop_reason).toBe(sentClientTool ? 'tool_use' : 'end_turn');
        }
        // The result block carries no delta: it is whole in content_block_start.
        plan.message.content.forEach((block, index) => {
          if (block.type !== 'web_search_tool_result') return;
          expect(plan.events.some((e) => e.data.type === 'content_block_delta' && e.data.index === index)).toBe(false);
        });
      }),
    );
  });

  it('validates what it sends, so a client can send it back unchanged', () => {
    const plan = planReply(searchTurn(), context(1000));
    const request = {
      model: 'm',
      max_tokens: 1024,
      messages: [
        { role: 'user', content: 'go' },
        { role: 'assistant', content: plan.message.content },
        { role: 'user', content: 'more' },
      ],
    };
    const options = { strictHistory: true, knownSignatures: new Map<string, string>() };
    expect(parseMessagesRequest(request, options).messages[1]?.content).toEqual(plan.message.content);
    const broken = { ...request, messages: [request.messages[0], { role: 'assistant', content: [{ type: 'web_search_tool_result', content: [] }] }] };
    expect(() => parseMessagesRequest(broken, options)).toThrow(ApiRequestError);
  });
});
