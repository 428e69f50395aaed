import Anthropic, { type APIError } from '@anthropic-ai/sdk';
import type { BetaMessageParam } from '@anthropic-ai/sdk/resources/beta/messages/messages';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import {
  AnthropicEmulator,
  CLEARED_TOOL_RESULT,
  CONTEXT_MANAGEMENT_BETA,
  startOfflineModel,
  textTurn,
  type MessagesRequest,
} from '../../src/emulator/index.ts';
import { rejection } from './wire.ts';

// The context window and context editing, through the real SDK. The emulator estimates a token
// as 4 characters, so prompts here are sized in characters: 'x'.repeat(4 * n) is n tokens.

const MODEL = 'claude-test-model';
const WINDOW = 1_000;
const small = new AnthropicEmulator({ contextTokens: WINDOW, offline: { tokensPerSecond: Infinity } });
const standard = new AnthropicEmulator({ offline: { tokensPerSecond: Infinity } });
let smallURL = '';
let standardURL = '';

const client = (baseURL = smallURL): Anthropic => new Anthropic({ apiKey: 'test-key', baseURL, maxRetries: 0 });
const ask = (chars: number, maxTokens: number): Anthropic.MessageCreateParamsNonStreaming => ({
  model: MODEL,
  max_tokens: maxTokens,
  messages: [{ role: 'user', content: 'x'.repeat(chars) }],
});

beforeAll(async () => {
  [smallURL, standardURL] = await Promise.all([small.start(), standard.start()]);
});

afterEach(() => {
  small.reset();
  standard.reset();
});

afterAll(async () => {
  await Promise.all([small.close(), standard.close()]);
});

async function badRequest(promise: Promise<unknown>): Promise<APIError> {
  const error = await rejection(promise);
  expect(error).toBeInstanceOf(Anthropic.BadRequestError);
  expect(error).toMatchObject({ status: 400, type: 'invalid_request_error' });
  return error as APIError;
}

describe('the context window', () => {
  it('is 200,000 tokens unless set, and a longer prompt gets the API 400 with its wording', async () => {
    const error = await badRequest(client(standardURL).messages.create(ask(4 * 200_001, 1)));
    expect(error.apiMessage).toBe('prompt is too long: 200001 tokens > 200000 maximum');
    expect(error.requestID).toMatch(/^req_/);
    expect(standard.answered).toHaveLength(0);
  });

  it('refuses input that leaves no room for max_tokens, in the API wording', async () => {
    const error = await badRequest(client().messages.create(ask(4 * 900, 101)));
    expect(error.apiMessage).toBe(
      'input length and `max_tokens` exceed context limit: 900 + 101 > 1000, decrease input length or `max_tokens` and try again',
    );
  });

  it('answers a request that fills the window exactly, streaming or not', async () => {
    const whole = await client().messages.create(ask(4 * 900, 100));
    expect(whole.usage.input_tokens).toBe(900);
    const streamed = await client().messages.stream({ ...ask(4 * 900, 100), stream: true }).finalMessage();
    expect(streamed.usage.input_tokens).toBe(900);
  });

  it('sends the error as the API does and consumes no scripted turn', async () => {
    small.enqueue(textTurn('kept for the next request'));
    const res = await fetch(`${smallURL}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': 'k', 'anthropic-version': '2023-06-01' },
      body: JSON.stringify(ask(4 * 1_001, 1)),
    });
    expect(res.status).toBe(400);
    const requestId = res.headers.get('request-id');
    expect(await res.json()).toEqual({
      type: 'error',
      error: { type: 'invalid_request_error', message: 'prompt is too long: 1001 tokens > 1000 maximum' },
      request_id: requestId,
    });
    expect(small.pending).toBe(1);
  });

  it('is what the offline model of the service is started with', async () => {
    const offline = await startOfflineModel({ tokensPerSecond: Infinity, contextTokens: 50 });
    try {
      const error = await badRequest(client(offline.baseURL).messages.create(ask(4 * 51, 1)));
      expect(error.apiMessage).toBe('prompt is too long: 51 tokens > 50 maximum');
    } finally {
      await offline.close();
    }
  });

  it('does not limit count_tokens, which counts prompts of any length', async () => {
    const count = await client().messages.countTokens({ model: MODEL, messages: ask(4 * 5_000, 1).messages });
    expect(count.input_tokens).toBe(5_000);
  });
});

const RESULT_CHARS = 400;

/** A tool loop of `names.length` rounds, each result 100 tokens long. */
function toolLoop(names: readonly string[]): BetaMessageParam[] {
  const messages: BetaMessageParam[] = [{ role: 'user', content: 'Look things up.' }];
  names.forEach((name, i) => {
    messages.push({ role: 'assistant', content: [{ type: 'tool_use', id: `toolu_${i}`, name, input: { query: `q${i}` } }] });
    messages.push({ role: 'user', content: [{ type: 'tool_result', tool_use_id: `toolu_${i}`, content: `${i}`.repeat(RESULT_CHARS) }] });
  });
  return messages;
}

const tools = (names: readonly string[]): Anthropic.Beta.BetaTool[] =>
  [...new Set(names)].map((name) => ({ name, input_schema: { type: 'object' } }));

type Edits = NonNullable<Anthropic.Beta.MessageCreateParams['context_management']>['edits'];

const edited = (names: readonly string[], edits: Edits, maxTokens = 500): Anthropic.Beta.MessageCreateParamsNonStreaming => ({
  model: MODEL,
  max_tokens: maxTokens,
  messages: toolLoop(names),
  tools: tools(names),
  betas: [CONTEXT_MANAGEMENT_BETA],
  context_management: { edits },
});

/** What the model was given: the request after the edits. */
function capture(): () => MessagesRequest {
  let seen: MessagesRequest | undefined;
  small.setResponder((request) => {
    seen = request;
    return textTurn('done');
  });
  return () => {
    if (seen === undefined) throw new Error('nothing reached the model');
    return seen;
  };
}

const resultsOf = (request: MessagesRequest): unknown[] =>
  request.messages.flatMap((m) => (typeof m.content === 'string' ? [] : m.content.filter((b) => b.type === 'tool_result').map((b) => b.content)));
const inputsOf = (request: MessagesRequest): unknown[] =>
  request.messages.flatMap((m) => (typeof m.content === 'string' ? [] : m.content.filter((b) => b.type === 'tool_use').map((b) => b.input)));

describe('context editing', () => {
  const six = ['search', 'search', 'search', 'search', 'search', 'search'];
  const clearAllButTwo: Edits = [{ type: 'clear_tool_uses_20250919', trigger: { type: 'input_tokens', value: 100 }, keep: { type: 'tool_uses', value: 2 } }];

  it('clears the oldest tool results beyond keep, so a request too long as sent is answered', async () => {
    const { betas: _betas, context_management: _cm, ...plain } = edited(six, clearAllButTwo);
    const tooLong = await badRequest(client().beta.messages.create(plain));
    expect(tooLong.apiMessage).toMatch(/^input length and `max_tokens` exceed context limit: \d+ \+ 500 > 1000/);

    const seen = capture();
    const message = await client().beta.messages.create(edited(six, clearAllButTwo));
    const { max_tokens: _max, ...counted } = edited(six, clearAllButTwo);
    const count = await client().beta.messages.countTokens(counted);
    expect(message.context_management?.applied_edits).toEqual([
      { type: 'clear_tool_uses_20250919', cleared_tool_uses: 4, cleared_input_tokens: count.context_management!.original_input_tokens - count.input_tokens },
    ]);
    expect(message.usage.input_tokens).toBe(count.input_tokens);
    expect(resultsOf(seen())).toEqual([...Array(4).fill(CLEARED_TOOL_RESULT), '4'.repeat(RESULT_CHARS), '5'.repeat(RESULT_CHARS)]);
    expect(inputsOf(seen())).toEqual(six.map((_, i) => ({ query: `q${i}` })));
    // The log holds what the client sent; only the model sees the edited history.
    expect(JSON.stringify(small.messageBodies.at(-1))).not.toContain(CLEARED_TOOL_RESULT);
  });

  it('reports the applied edits on message_delta, so the streamed final message carries them', async () => {
    const stream = client().beta.messages.stream({ ...edited(six, clearAllButTwo), stream: true });
    const deltas: unknown[] = [];
    stream.on('streamEvent', (event) => {
      if (event.type === 'message_delta') deltas.push(event.context_management);
    });
    const final = await stream.finalMessage();
    expect(deltas).toEqual([final.context_management]);
    expect(final.context_management?.applied_edits).toMatchObject([{ type: 'clear_tool_uses_20250919', cleared_tool_uses: 4 }]);
  });

  it('never clears excluded tools, and clears the inputs of the cleared uses when asked', async () => {
    const names = ['search', 'memory', 'search', 'memory', 'search', 'memory'];
    const seen = capture();
    const message = await client().beta.messages.create(
      edited(names, [
        {
          type: 'clear_tool_uses_20250919',
          trigger: { type: 'tool_uses', value: 5 },
          keep: { type: 'tool_uses', value: 1 },
          exclude_tools: ['memory'],
          clear_tool_inputs: true,
        },
      ]),
    );
    expect(message.context_management?.applied_edits).toMatchObject([{ cleared_tool_uses: 3 }]);
    const kept = (i: number): string => `${i}`.repeat(RESULT_CHARS);
    expect(resultsOf(seen())).toEqual([CLEARED_TOOL_RESULT, kept(1), CLEARED_TOOL_RESULT, kept(3), CLEARED_TOOL_RESULT, kept(5)]);
    expect(inputsOf(seen())).toEqual([{}, { query: 'q1' }, {}, { query: 'q3' }, {}, { query: 'q5' }]);
  });

  it('applies nothing below the trigger or when it cannot clear at least clear_at_least', async () => {
    const three = ['search', 'search', 'search', 'search'];
    const below = await client().beta.messages.create(
      edited(three, [{ type: 'clear_tool_uses_20250919', trigger: { type: 'input_tokens', value: 900 }, keep: { type: 'tool_uses', value: 0 } }], 1),
    );
    expect(below.context_management).toEqual({ applied_edits: [] });
    const seen = capture();
    const notWorthIt = await client().beta.messages.create(
      edited(three, [{ type: 'clear_tool_uses_20250919', trigger: { type: 'input_tokens', value: 1 }, clear_at_least: { type: 'input_tokens', value: 5_000 } }], 1),
    );
    expect(notWorthIt.context_management).toEqual({ applied_edits: [] });
    expect(resultsOf(seen())).not.toContain(CLEARED_TOOL_RESULT);
  });

  it('clears thinking from all but the newest thinking turns, before clearing tool uses', async () => {
    const thinking = (i: number): Anthropic.Beta.BetaContentBlockParam => ({ type: 'thinking', thinking: `thought ${i} `.repeat(20), signature: `sig${i}` });
    const messages: BetaMessageParam[] = [];
    for (let i = 0; i < 3; i += 1) {
      messages.push({ role: 'user', content: `question ${i}` }, { role: 'assistant', content: [thinking(i), { type: 'text', text: `answer ${i}` }] });
    }
    messages.push({ role: 'user', content: 'and now?' });
    const seen = capture();
    const message = await client().beta.messages.create({
      model: MODEL,
      max_tokens: 10,
      messages,
      betas: [CONTEXT_MANAGEMENT_BETA],
      context_management: { edits: [{ type: 'clear_thinking_20251015', keep: { type: 'thinking_turns', value: 1 } }, { type: 'clear_tool_uses_20250919' }] },
    });
    expect(message.context_management?.applied_edits).toEqual([{ type: 'clear_thinking_20251015', cleared_thinking_turns: 2, cleared_input_tokens: expect.any(Number) as number }]);
    const blocks = seen().messages.filter((m) => m.role === 'assistant').map((m) => (typeof m.content === 'string' ? [] : m.content.map((b) => b.type)));
    expect(blocks).toEqual([['text'], ['text'], ['thinking', 'text']]);
  });
});

describe('bad context_management', () => {
  const post = (body: Record<string, unknown>, beta: string | null = CONTEXT_MANAGEMENT_BETA): Promise<Response> =>
    fetch(`${smallURL}/v1/messages`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-api-key': 'k',
        'anthropic-version': '2023-06-01',
        ...(beta === null ? {} : { 'anthropic-beta': beta }),
      },
      body: JSON.stringify({ ...ask(40, 10), ...body }),
    });
  const edits = (...list: unknown[]): Record<string, unknown> => ({ context_management: { edits: list } });
  const cases: ReadonlyArray<readonly [string, Record<string, unknown>, string]> = [
    ['an unknown edit type', edits({ type: 'clear_everything_20990101' }),
      "context_management.edits.0: Input tag 'clear_everything_20990101' found using 'type' does not match any of the expected tags: 'clear_tool_uses_20250919', 'clear_thinking_20251015', 'compact_20260112'"],
    ['an edit without a type', edits({ keep: 'all' }), "context_management.edits.0: Unable to extract tag using discriminator 'type'"],
    ['a negative keep', edits({ type: 'clear_tool_uses_20250919', keep: { type: 'tool_uses', value: -1 } }),
      'context_management.edits.0.clear_tool_uses_20250919.keep.value: Input should be greater than or equal to 0'],
    ['a fractional trigger', edits({ type: 'clear_tool_uses_20250919', trigger: { type: 'input_tokens', value: 1.5 } }),
      'context_management.edits.0.clear_tool_uses_20250919.trigger.input_tokens.value: Input should be a valid integer'],
    ['an unknown trigger', edits({ type: 'clear_tool_uses_20250919', trigger: { type: 'turns', value: 3 } }),
      "context_management.edits.0.clear_tool_uses_20250919.trigger: Input tag 'turns' found using 'type' does not match any of the expected tags: 'input_tokens', 'tool_uses'"],
    ['an unknown field', edits({ type: 'clear_tool_uses_20250919', keep_all: true }),
      'context_management.edits.0.clear_tool_uses_20250919.keep_all: Extra inputs are not permitted'],
    ['exclude_tools that are not names', edits({ type: 'clear_tool_uses_20250919', exclude_tools: [1] }),
      'context_management.edits.0.clear_tool_uses_20250919.exclude_tools.0: Input should be a valid string'],
    ['zero thinking turns', edits({ type: 'clear_thinking_20251015', keep: { type: 'thinking_turns', value: 0 } }),
      'context_management.edits.0.clear_thinking_20251015.keep.thinking_turns.value: Input should be greater than or equal to 1'],
    ['thinking clearing after another edit', edits({ type: 'clear_tool_uses_20250919' }, { type: 'clear_thinking_20251015' }),
      'context_management.edits: clear_thinking_20251015 must be the first edit when edits are combined'],
    ['edits that are not a list', { context_management: { edits: {} } }, 'context_management.edits: Input should be a valid list'],
  ];

  it.each(cases)('refuses %s with a 400 naming the field', async (_name, body, message) => {
    const res = await post(body);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ type: 'error', error: { type: 'invalid_request_error', message } });
    expect(small.answered).toHaveLength(0);
  });

  it('refuses context_management without its beta header, as an unknown field', async () => {
    const res = await post(edits({ type: 'clear_tool_uses_20250919' }), null);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { message: 'context_management: Extra inputs are not permitted' } });
  });

  it('raises a BadRequestError in the SDK', async () => {
    const bad = [{ type: 'clear_tool_uses_20250919', keep: { type: 'tool_uses', value: -1 } }] as unknown as Edits;
    const error = await badRequest(client().beta.messages.create(edited(['search'], bad)));
    expect(error.apiMessage).toBe('context_management.edits.0.clear_tool_uses_20250919.keep.value: Input should be greater than or equal to 0');
  });
});
