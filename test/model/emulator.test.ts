import Anthropic, { APIError, RateLimitError } from '@anthropic-ai/sdk';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import {
  AnthropicEmulator,
  dropAfter,
  errorEventAfter,
  OFFLINE_LABEL,
  overloaded,
  rateLimited,
  serverError,
  stallAfter,
  startOfflineModel,
  textTurn,
  toolUseTurn,
  type MessagesRequest,
  type Turn,
} from '../../src/emulator/index.ts';
import { parseSse, rejection } from './wire.ts';

// The real SDK against the emulator: if the SDK can tell the difference, these tests say so.

const MODEL = 'claude-test-model';
const emulator = new AnthropicEmulator({ offline: { tokensPerSecond: Infinity } });
let baseURL = '';

const client = (maxRetries = 0): Anthropic => new Anthropic({ apiKey: 'test-key', baseURL, maxRetries });

const hello = (text = 'Hello'): Anthropic.MessageCreateParamsNonStreaming => ({
  model: MODEL,
  max_tokens: 1024,
  messages: [{ role: 'user', content: text }],
});

/** Reads the wire as-is, so the framing and the pings the SDK hides can be asserted. */
async function rawPost(path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${baseURL}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': 'k', 'anthropic-version': '2023-06-01', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

beforeAll(async () => {
  baseURL = await emulator.start();
});

afterEach(() => {
  emulator.reset();
  emulator.setPing(undefined);
});

afterAll(async () => {
  await emulator.close();
});

describe('streaming through the SDK', () => {
  it('streams text, thinking with its signature and a tool call, with stop reason and usage', async () => {
    emulator.enqueue({
      blocks: [
        { type: 'thinking', thinking: 'The user wants the sum, so I will compute it.', signature: 'sig-abc' },
        { type: 'text', text: 'Let me add those numbers for you.' },
        { type: 'tool_use', name: 'calculate', input: { expression: '2+2', precise: true } },
      ],
    });
    const stream = client().messages.stream(hello('What is 2+2?'));
    const texts: string[] = [];
    const thinking: string[] = [];
    const signatures: string[] = [];
    const partialJson: string[] = [];
    const eventTypes: string[] = [];
    stream.on('text', (delta) => texts.push(delta));
    stream.on('thinking', (delta) => thinking.push(delta));
    stream.on('signature', (signature) => signatures.push(signature));
    stream.on('streamEvent', (event) => {
      eventTypes.push(event.type);
      if (event.type === 'content_block_delta' && event.delta.type === 'input_json_delta') {
        partialJson.push(event.delta.partial_json);
      }
    });
    const message = await stream.finalMessage();

    expect(texts.length).toBeGreaterThan(1);
    expect(texts.join('')).toBe('Let me add those numbers for you.');
    expect(thinking.join('')).toBe('The user wants the sum, so I will compute it.');
    expect(signatures).toEqual(['sig-abc']);
    expect(partialJson[0]).toBe('');
    expect(partialJson.length).toBeGreaterThan(2);
    expect(JSON.parse(partialJson.join(''))).toEqual({ expression: '2+2', precise: true });
    expect(eventTypes[0]).toBe('message_start');
    expect(eventTypes.slice(-2)).toEqual(['message_delta', 'message_stop']);

    expect(message.id).toMatch(/^msg_[0-9A-Za-z]+$/);
    expect(message.model).toBe(MODEL);
    expect(message.stop_reason).toBe('tool_use');
    expect(message.content).toHaveLength(3);
    const [think, text, tool] = message.content;
    expect(think).toMatchObject({ type: 'thinking', signature: 'sig-abc' });
    expect(text).toMatchObject({ type: 'text', text: 'Let me add those numbers for you.' });
    expect(tool).toMatchObject({ type: 'tool_use', name: 'calculate', input: { expression: '2+2', precise: true } });
    expect(tool?.type === 'tool_use' ? tool.id : '').toMatch(/^toolu_[0-9A-Za-z]+$/);
    const deltas = texts.length + thinking.length + partialJson.length - 1;
    expect(message.usage.output_tokens).toBe(deltas);
    expect(message.usage.input_tokens).toBeGreaterThan(0);
  });

  it('signs thinking itself when the script gives no signature', async () => {
    emulator.enqueue({ blocks: [{ type: 'thinking', thinking: 'Hmm.' }, { type: 'text', text: 'Yes.' }] });
    const message = await client().messages.stream(hello()).finalMessage();
    const block = message.content[0];
    expect(block?.type).toBe('thinking');
    expect(block?.type === 'thinking' ? block.signature.length : 0).toBeGreaterThan(100);
  });

  it('sends redacted thinking as a whole block', async () => {
    emulator.enqueue({ blocks: [{ type: 'redacted_thinking', data: 'EmwKAhgBEgy3va' }, { type: 'text', text: 'Done.' }] });
    const message = await client().messages.stream(hello()).finalMessage();
    expect(message.content[0]).toEqual({ type: 'redacted_thinking', data: 'EmwKAhgBEgy3va' });
    expect(message.stop_reason).toBe('end_turn');
  });

  it('stops at max_tokens with stop_reason max_tokens', async () => {
    emulator.enqueue(textTurn('one two three four five six seven eight nine ten'));
    const message = await client().messages.stream({ ...hello(), max_tokens: 4 }).finalMessage();
    expect(message.stop_reason).toBe('max_tokens');
    expect(message.usage.output_tokens).toBe(4);
    expect(message.content[0]).toMatchObject({ type: 'text', text: 'one two three four' });
  });

  it('stops at a stop sequence and names it', async () => {
    emulator.enqueue(textTurn('Answer: 42\n\nHuman: more?'));
    const message = await client()
      .messages.stream({ ...hello(), stop_sequences: ['\n\nHuman:'] })
      .finalMessage();
    expect(message.stop_reason).toBe('stop_sequence');
    expect(message.stop_sequence).toBe('\n\nHuman:');
    expect(message.content[0]).toMatchObject({ text: 'Answer: 42' });
  });

  it('honours a scripted stop reason and model', async () => {
    emulator.enqueue({ blocks: [{ type: 'text', text: 'Still working.' }], stopReason: 'pause_turn', model: 'claude-other' });
    const message = await client().messages.stream(hello()).finalMessage();
    expect(message.stop_reason).toBe('pause_turn');
    expect(message.model).toBe('claude-other');
  });

  it('streams a paced reply one token (a word, or four characters of a long one) per event', async () => {
    emulator.enqueue(textTurn('a paced reply of several words', { tokensPerSecond: 1000 }));
    const texts: string[] = [];
    const stream = client().messages.stream(hello());
    stream.on('text', (delta) => texts.push(delta));
    const message = await stream.finalMessage();
    expect(texts).toEqual(['a', ' paced', ' reply', ' of', ' sev', 'eral', ' words']);
    expect(message.usage.output_tokens).toBe(7);
  });
});

describe('the wire itself', () => {
  it('frames SSE like the API, with request-id, content type and a ping', async () => {
    emulator.enqueue(textTurn('Hi there'));
    const response = await rawPost('/v1/messages', { ...hello(), stream: true });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(response.headers.get('request-id')).toMatch(/^req_[0-9A-Za-z]+$/);
    const events = parseSse(await response.text());
    for (const { event, data } of events) expect(event).toBe(data.type);
    expect(events.map((e) => e.event)).toEqual([
      'message_start',
      'content_block_start',
      'ping',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    expect(events[0]?.data).toMatchObject({
      message: { type: 'message', role: 'assistant', content: [], stop_reason: null, stop_sequence: null },
    });
    expect(events.at(-2)?.data).toMatchObject({
      delta: { stop_reason: 'end_turn', stop_sequence: null },
      usage: { output_tokens: 2 },
    });
  });

  it('interleaves pings every N tokens, and the SDK skips them', async () => {
    emulator.setPing({ everyTokens: 1 });
    emulator.enqueue(textTurn('one two three'));
    const raw = parseSse(await (await rawPost('/v1/messages', { ...hello(), stream: true })).text());
    expect(raw.filter((e) => e.event === 'ping')).toHaveLength(4);

    emulator.enqueue(textTurn('one two three'));
    const message = await client().messages.stream(hello()).finalMessage();
    expect(message.content[0]).toMatchObject({ text: 'one two three' });
  });

  it('sends pings on a timer while a stream is open', async () => {
    emulator.setPing({ intervalMs: 5 });
    emulator.enqueue(textTurn('slow words here', { tokensPerSecond: 10 }));
    const raw = parseSse(await (await rawPost('/v1/messages', { ...hello(), stream: true })).text());
    expect(raw.filter((e) => e.event === 'ping').length).toBeGreaterThan(1);
    expect(raw.at(-1)?.event).toBe('message_stop');
  });

  it('accepts x-api-key as well as a bearer token, and records neither value', async () => {
    emulator.enqueue(textTurn('a'), textTurn('b'));
    const viaKey = await rawPost('/v1/messages', hello(), { 'x-api-key': 'secret-one' });
    expect(viaKey.status).toBe(200);
    await client().messages.create(hello());
    const [first, second] = emulator.requests;
    expect(first?.headers['x-api-key']).toBe('[redacted]');
    expect(second?.headers.authorization).toBe('[redacted]');
    expect(second?.headers['anthropic-version']).toBeTruthy();
    expect(JSON.stringify(emulator.requests)).not.toContain('secret-one');
    expect(JSON.stringify(emulator.requests)).not.toContain('test-key');
  });

  it('refuses a request without a key, as the API does', async () => {
    const response = await fetch(`${baseURL}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
      body: JSON.stringify(hello()),
    });
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ type: 'error', error: { type: 'authentication_error' } });
  });

  it('answers unknown paths with an API-shaped 404', async () => {
    const response = await rawPost('/v1/nothing-here', {});
    expect(response.status).toBe(404);
    expect(response.headers.get('content-type')).toBe('application/json');
    const body = (await response.json()) as { type: string; error: { type: string; message: string } };
    expect(body).toMatchObject({ type: 'error', error: { type: 'not_found_error' } });
    expect(emulator.requests.at(-1)?.path).toBe('/v1/nothing-here');
  });

  it('rejects invalid bodies with invalid_request_error', async () => {
    const cases: Array<[unknown, string]> = [
      ['{not json', 'There was an issue with your request body'],
      [{ max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }, 'model: Field required'],
      [{ model: MODEL, messages: [{ role: 'user', content: 'x' }] }, 'max_tokens: Field required'],
      [{ model: MODEL, max_tokens: 10 }, 'messages: Field required'],
      [{ model: MODEL, max_tokens: 10, messages: [] }, 'messages: at least one message is required'],
      [
        { model: MODEL, max_tokens: 10, messages: [{ role: 'assistant', content: 'x' }] },
        'messages: first message must use the "user" role',
      ],
      [{ model: MODEL, max_tokens: 0, messages: [{ role: 'user', content: 'x' }] }, 'max_tokens: Input should be'],
      [
        { model: MODEL, max_tokens: 10, messages: [{ role: 'user', content: [{ type: 'text', text: '' }] }] },
        'text content blocks must be non-empty',
      ],
    ];
    for (const [body, message] of cases) {
      const response = await rawPost('/v1/messages', body);
      expect(response.status, message).toBe(400);
      const error = (await response.json()) as { type: string; error: { type: string; message: string } };
      expect(error.type).toBe('error');
      expect(error.error.type).toBe('invalid_request_error');
      expect(error.error.message).toContain(message);
    }
    expect(emulator.pending).toBe(0);
  });

  it('turns a 400 into the SDK BadRequestError without consuming a turn', async () => {
    emulator.enqueue(textTurn('kept for later'));
    const error = await rejection(client().messages.create({ model: MODEL, max_tokens: 10, messages: [] }));
    expect(error).toBeInstanceOf(Anthropic.BadRequestError);
    expect(error).toMatchObject({ status: 400, type: 'invalid_request_error' });
    expect(emulator.pending).toBe(1);
  });
});

describe('non-streaming and count_tokens', () => {
  it('returns a whole Message as JSON with a request id', async () => {
    emulator.enqueue(toolUseTurn('lookup', { q: 'parley' }, { preamble: 'Looking it up.', id: 'toolu_fixed' }));
    const { data, response, request_id } = await client().messages.create(hello()).withResponse();
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(request_id).toBe(emulator.requests.at(-1)?.requestId);
    expect(data).toMatchObject({
      type: 'message',
      role: 'assistant',
      model: MODEL,
      stop_reason: 'tool_use',
      stop_sequence: null,
      content: [
        { type: 'text', text: 'Looking it up.' },
        { type: 'tool_use', id: 'toolu_fixed', name: 'lookup', input: { q: 'parley' } },
      ],
    });
    expect(data.usage.output_tokens).toBeGreaterThan(0);
  });

  it('counts input tokens as characters / 4 over system, messages and tools', async () => {
    const small = await client().messages.countTokens({ model: MODEL, messages: [{ role: 'user', content: 'abcdefgh' }] });
    expect(small).toEqual({ input_tokens: 2 });
    const larger = await client().messages.countTokens({
      model: MODEL,
      system: 'You are terse.',
      messages: [{ role: 'user', content: 'abcdefgh' }],
      tools: [{ name: 'noop', input_schema: { type: 'object', properties: {} } }],
    });
    expect(larger.input_tokens).toBeGreaterThan(small.input_tokens);
    expect(emulator.requests.map((r) => r.path)).toEqual(['/v1/messages/count_tokens', '/v1/messages/count_tokens']);
    expect(emulator.messageBodies).toEqual([]);
  });

  it('reports the same input tokens in usage as count_tokens', async () => {
    const params = hello('Some text that is long enough to count.');
    const counted = await client().messages.countTokens({ model: params.model, messages: params.messages });
    emulator.enqueue(textTurn('ok'));
    const message = await client().messages.create(params);
    expect(message.usage.input_tokens).toBe(counted.input_tokens);
  });
});

describe('faults', () => {
  it('429 with retry-after: the SDK waits, retries and succeeds', async () => {
    emulator.enqueue(rateLimited({ retryAfterSeconds: 1, retryAfterMs: 10 }), textTurn('after the wait'));
    const message = await client(2).messages.create(hello());
    expect(message.content[0]).toMatchObject({ text: 'after the wait' });
    const [first, second] = emulator.requests;
    expect(emulator.requests).toHaveLength(2);
    expect(first?.body).toEqual(second?.body);
    expect(first?.headers['x-stainless-retry-count']).toBe('0');
    expect(second?.headers['x-stainless-retry-count']).toBe('1');
  });

  it('429 surfaces as RateLimitError with the retry headers when retries are off', async () => {
    emulator.enqueue(rateLimited({ retryAfterSeconds: 7 }));
    const error = await rejection(client(0).messages.create(hello()));
    expect(error).toBeInstanceOf(Anthropic.RateLimitError);
    expect((error as RateLimitError).headers.get('retry-after')).toBe('7');
    expect(error).toMatchObject({ type: 'rate_limit_error' });
  });

  it('529 until retries run out: APIError with status 529', async () => {
    const retryFast = { httpError: { ...overloaded().httpError, retryAfterMs: 1 } } satisfies Turn;
    emulator.enqueue(retryFast, retryFast, retryFast);
    const error = await rejection(client(2).messages.stream(hello()).finalMessage());
    expect(error).toBeInstanceOf(Anthropic.APIError);
    expect(error).toMatchObject({ status: 529, type: 'overloaded_error' });
    expect(emulator.requests).toHaveLength(3);
  });

  it('500 surfaces as InternalServerError', async () => {
    emulator.enqueue(serverError('boom'));
    const error = await rejection(client(0).messages.create(hello()));
    expect(error).toBeInstanceOf(Anthropic.InternalServerError);
    expect(error).toMatchObject({ status: 500, type: 'api_error', apiMessage: 'boom' });
  });

  it('an error event after HTTP 200 rejects the stream with an APIError, after the tokens sent', async () => {
    emulator.enqueue(errorEventAfter(3, textTurn('one two three four five')));
    const stream = client(2).messages.stream(hello());
    const texts: string[] = [];
    stream.on('text', (delta) => texts.push(delta));
    const error = await rejection(stream.finalMessage());
    expect(error).toBeInstanceOf(Anthropic.APIError);
    expect(error).toMatchObject({ type: 'overloaded_error', apiMessage: 'Overloaded' });
    expect(texts.join('')).toBe('one two three');
    expect(emulator.requests).toHaveLength(1);
  });

  it('an error event on a non-streaming request becomes that error status', async () => {
    emulator.enqueue(errorEventAfter(2, textTurn('one two three'), 'api_error'));
    const error = await rejection(client(0).messages.create(hello()));
    expect(error).toMatchObject({ status: 500, type: 'api_error' });
  });

  it('a dropped connection rejects the stream after the tokens sent', async () => {
    emulator.enqueue(dropAfter(2, textTurn('alpha beta gamma delta')));
    const stream = client(0).messages.stream(hello());
    const texts: string[] = [];
    stream.on('text', (delta) => texts.push(delta));
    const error = await rejection(stream.finalMessage());
    expect(error).toBeInstanceOf(Error);
    expect(texts.join('')).toBe('alpha beta');
  });

  it('a dropped connection on a non-streaming request is a connection error the SDK retries', async () => {
    emulator.enqueue(dropAfter(0, textTurn('lost')), textTurn('second try'));
    const message = await client(1).messages.create(hello());
    expect(message.content[0]).toMatchObject({ text: 'second try' });
    expect(emulator.requests).toHaveLength(2);
  });

  it('a stall holds the stream open until the client aborts', async () => {
    emulator.enqueue(stallAfter(2, textTurn('never quite finished')));
    const controller = new AbortController();
    const stream = client(0).messages.stream(hello(), { signal: controller.signal });
    const texts: string[] = [];
    stream.on('text', (delta) => {
      texts.push(delta);
      if (texts.length === 2) controller.abort();
    });
    const error = await rejection(stream.finalMessage());
    expect(error).toBeInstanceOf(Anthropic.APIUserAbortError);
    expect(texts.join('')).toBe('never quite');
    await emulator.whenIdle();
    expect(emulator.inFlight).toBe(0);
  });

  it('a responder that throws becomes a 500', async () => {
    emulator.setResponder(() => {
      throw new Error('no script for this');
    });
    const error = await rejection(client(0).messages.create(hello()));
    expect(error).toMatchObject({ status: 500 });
    expect((error as APIError).apiMessage).toContain('no script for this');
  });
});

describe('the request log', () => {
  it('records the exact history that reached the model', async () => {
    emulator.enqueue(toolUseTurn('get_weather', { city: 'Paris' }, { id: 'toolu_weather' }), textTurn('It is sunny.'));
    const tools: Anthropic.Tool[] = [
      { name: 'get_weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } },
    ];
    const first = await client().messages.create({ ...hello('Weather in Paris?'), system: 'Be brief.', tools });
    const history: Anthropic.MessageParam[] = [
      { role: 'user', content: 'Weather in Paris?' },
      { role: 'assistant', content: first.content },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_weather', content: 'sunny, 21°C' }] },
    ];
    await client().messages.create({ ...hello(), messages: history, system: 'Be brief.', tools });

    expect(emulator.messageBodies).toEqual([
      { model: MODEL, max_tokens: 1024, system: 'Be brief.', tools, messages: [history[0]] },
      { model: MODEL, max_tokens: 1024, system: 'Be brief.', tools, messages: JSON.parse(JSON.stringify(history)) },
    ]);
    expect(emulator.requests.every((r) => r.method === 'POST' && r.path === '/v1/messages')).toBe(true);
  });

  it('waits for requests without timing assumptions', async () => {
    const arrived = emulator.waitForRequests(2, '/v1/messages');
    emulator.enqueue(textTurn('1'), textTurn('2'));
    await client().messages.create(hello('first'));
    await client().messages.create(hello('second'));
    const requests = await arrived;
    expect(requests.map((r) => (r.body as MessagesRequest).messages[0]?.content)).toEqual(['first', 'second']);
  });

  it('keeps only the newest requests when capped, and checks a configured key', async () => {
    const own = new AnthropicEmulator({ maxRecordedRequests: 1, apiKey: 'right-key', offline: { tokensPerSecond: Infinity } });
    const url = await own.start();
    try {
      const sdk = new Anthropic({ apiKey: 'right-key', baseURL: url, maxRetries: 0 });
      await sdk.messages.create(hello('one'));
      await sdk.messages.create(hello('two'));
      expect(own.requests).toHaveLength(1);
      expect((own.requests[0]?.body as MessagesRequest).messages[0]?.content).toBe('two');
      const wrong = new Anthropic({ apiKey: 'wrong-key', baseURL: url, maxRetries: 0 });
      const error = await rejection(wrong.messages.create(hello()));
      expect(error).toBeInstanceOf(Anthropic.AuthenticationError);
      expect(error).toMatchObject({ status: 401, type: 'authentication_error' });
    } finally {
      await own.close();
    }
  });

  it('reset() forgets turns and requests', async () => {
    emulator.enqueue(textTurn('unused'));
    await client().messages.countTokens({ model: MODEL, messages: [{ role: 'user', content: 'x' }] });
    emulator.reset();
    expect(emulator.pending).toBe(0);
    expect(emulator.requests).toHaveLength(0);
  });
});

describe('histories the API would refuse', () => {
  it('refuses a tool_use without its tool_result', async () => {
    const error = await rejection(
      client().messages.create({
        ...hello(),
        messages: [
          { role: 'user', content: 'go' },
          { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_x', name: 't', input: {} }] },
          { role: 'user', content: 'and?' },
        ],
      }),
    );
    expect(error).toBeInstanceOf(Anthropic.BadRequestError);
    expect((error as APIError).apiMessage).toContain(
      '`tool_use` ids were found without `tool_result` blocks immediately after: toolu_x',
    );
  });

  it('refuses text placed before the tool results', async () => {
    const error = await rejection(
      client().messages.create({
        ...hello(),
        messages: [
          { role: 'user', content: 'go' },
          { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_y', name: 't', input: {} }] },
          {
            role: 'user',
            content: [
              { type: 'text', text: 'here you go' },
              { type: 'tool_result', tool_use_id: 'toolu_y', content: 'done' },
            ],
          },
        ],
      }),
    );
    expect(error).toMatchObject({ status: 400 });
  });

  it('refuses a thinking block whose text changed after it was signed', async () => {
    emulator.enqueue({ blocks: [{ type: 'thinking', thinking: 'Original thought.' }, { type: 'text', text: 'Hi.' }] });
    const first = await client().messages.stream(hello()).finalMessage();
    const [thinking, text] = first.content;
    if (thinking?.type !== 'thinking' || !text) throw new Error('unexpected content');

    const replay = (block: Anthropic.ThinkingBlock): Anthropic.MessageParam[] => [
      { role: 'user', content: 'Hello' },
      { role: 'assistant', content: [block, text] },
      { role: 'user', content: 'Again' },
    ];
    emulator.enqueue(textTurn('fine'));
    await expect(client().messages.create({ ...hello(), messages: replay(thinking) })).resolves.toBeTruthy();
    const error = await rejection(
      client().messages.create({ ...hello(), messages: replay({ ...thinking, thinking: 'Original thought. ' }) }),
    );
    expect((error as APIError).apiMessage).toContain('Invalid `signature` in `thinking` block');
  });

  it('refuses more than four cache_control markers', async () => {
    const marked = (text: string): Anthropic.TextBlockParam => ({ type: 'text', text, cache_control: { type: 'ephemeral' } });
    const error = await rejection(
      client().messages.create({
        ...hello(),
        system: [marked('a'), marked('b')],
        messages: [{ role: 'user', content: [marked('c'), marked('d'), marked('e')] }],
      }),
    );
    expect((error as APIError).apiMessage).toBe('A maximum of 4 blocks with cache_control may be provided. Found 5.');
  });
});

describe('responders and the offline model', () => {
  it('a responder answers many conversations at once from their content', async () => {
    emulator.setResponder((request) => {
      const last = request.messages.at(-1);
      return textTurn(`echo: ${typeof last?.content === 'string' ? last.content : '?'}`, { tokensPerSecond: 2000 });
    });
    const names = Array.from({ length: 8 }, (_, i) => `conversation-${i}`);
    const replies = await Promise.all(names.map((name) => client().messages.stream(hello(name)).finalMessage()));
    expect(replies.map((m) => m.content[0]?.type === 'text' && m.content[0].text)).toEqual(
      names.map((name) => `echo: ${name}`),
    );
  });

  it('calls a tool, then answers with its result, and stops there', async () => {
    const tools: Anthropic.Tool[] = [
      {
        name: 'current_time',
        description: 'The current time',
        input_schema: { type: 'object', properties: { time_zone: { type: 'string' } } },
      },
    ];
    const messages: Anthropic.MessageParam[] = [{ role: 'user', content: 'What time is it in Europe/Paris?' }];
    const first = await client().messages.stream({ ...hello(), messages, tools }).finalMessage();
    expect(first.stop_reason).toBe('tool_use');
    const call = first.content.find((block) => block.type === 'tool_use');
    expect(call).toMatchObject({ name: 'current_time', input: { time_zone: 'Europe/Paris' } });
    if (call?.type !== 'tool_use') throw new Error('no tool call');

    messages.push(
      { role: 'assistant', content: first.content },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: call.id, content: '14:05 CEST' }] },
    );
    const second = await client().messages.stream({ ...hello(), messages, tools }).finalMessage();
    expect(second.stop_reason).toBe('end_turn');
    const text = second.content[0]?.type === 'text' ? second.content[0].text : '';
    expect(text.startsWith(OFFLINE_LABEL)).toBe(true);
    expect(text).toContain('current_time');
    expect(text).toContain('14:05 CEST');
  });

  it('startOfflineModel serves the offline model to the SDK', async () => {
    const offline = await startOfflineModel({ tokensPerSecond: Infinity });
    try {
      const sdk = new Anthropic({ apiKey: 'unused', baseURL: offline.baseURL, maxRetries: 0 });
      const message = await sdk.messages.stream(hello('Is anyone there?')).finalMessage();
      const text = message.content[0]?.type === 'text' ? message.content[0].text : '';
      expect(text).toContain(OFFLINE_LABEL);
      expect(text).toContain('Is anyone there?');
      expect(message.stop_reason).toBe('end_turn');
    } finally {
      await offline.close();
    }
  });
});

describe('closing', () => {
  it('close() ends open and stalled streams and does not hang', async () => {
    const own = new AnthropicEmulator();
    const url = await own.start();
    own.enqueue(stallAfter(1, textTurn('stuck here forever')), textTurn('a very slow reply indeed', { tokensPerSecond: 1 }));
    const sdk = new Anthropic({ apiKey: 'k', baseURL: url, maxRetries: 0 });
    const stalled = rejection(sdk.messages.stream(hello()).finalMessage());
    const slow = rejection(sdk.messages.stream(hello()).finalMessage());
    await own.waitForRequests(2);
    await own.close();
    expect(await stalled).toBeInstanceOf(Error);
    expect(await slow).toBeInstanceOf(Error);
    expect(own.inFlight).toBe(0);
  });

  it('close() does not wait on a responder that never answers', async () => {
    const own = new AnthropicEmulator({ responder: () => new Promise<Turn>(() => {}) });
    const url = await own.start();
    const sdk = new Anthropic({ apiKey: 'k', baseURL: url, maxRetries: 0 });
    const pending = rejection(sdk.messages.create(hello()));
    await own.waitForRequests(1);
    await own.close();
    expect(await pending).toBeInstanceOf(Anthropic.APIConnectionError);
  });
});
