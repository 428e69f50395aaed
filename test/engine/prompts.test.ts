import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AnthropicEmulator, errorEventAfter, rateLimited, stallAfter, textTurn, type MessagesRequest, type WireMessage } from '../../src/emulator/index.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { createRpcClient, type RpcClient } from '../support/clients.ts';
import { conversationApi, repliesTo, textOf } from '../support/conversation.ts';

let emulator: AnthropicEmulator;
let server: TestApp;
let client: RpcClient;
let api: ReturnType<typeof conversationApi>;

beforeAll(async () => {
  emulator = new AnthropicEmulator();
  const url = await emulator.start();
  server = await startTestApp({ ANTHROPIC_API_KEY: 'test-key', ANTHROPIC_BASE_URL: url, PARLEY_QUEUE_POLL_MS: '200' });
  client = createRpcClient('grpc-js', server.baseUrl);
  api = conversationApi(client);
});

afterEach(() => {
  emulator.reset();
  emulator.setResponder(undefined);
});

afterAll(async () => {
  client?.close();
  await server?.close();
  await emulator?.close();
});

function lastUserText(request: MessagesRequest): string {
  const last = request.messages.at(-1);
  if (!last || typeof last.content === 'string') return String(last?.content ?? '');
  return last.content.filter((b) => b.type === 'text').map((b) => String(b.text)).join('');
}

function texts(messages: readonly WireMessage[]): string[] {
  return messages.map((m) =>
    typeof m.content === 'string' ? m.content : m.content.filter((b) => b.type === 'text').map((b) => String(b.text)).join(''),
  );
}

describe('the queue and the prompt runner', () => {
  it('answers five messages sent at once in order, each with the whole history', async () => {
    emulator.setResponder((request) => textTurn(`answer to ${lastUserText(request)}`));
    const id = await api.create();
    const sent = await Promise.all([1, 2, 3, 4, 5].map((n) => api.send(id, `question ${n}`)));
    expect(sent.map((m) => m.status)).toEqual(Array(5).fill('MESSAGE_STATUS_QUEUED'));

    const messages = await api.settled(id);
    const users = messages.filter((m) => m.role === 'ROLE_USER');
    expect(users.map((m) => m.status)).toEqual(Array(5).fill('MESSAGE_STATUS_COMPLETED'));
    for (const user of users) {
      const replies = repliesTo(messages, user.id);
      expect(replies).toHaveLength(1);
      expect(textOf(replies[0]!)).toBe(`answer to ${textOf(user)}`);
    }

    // The order of the conversation is the order the model saw it in.
    const order = users.map((u) => textOf(u));
    const bodies = emulator.requests.map((r) => r.body as MessagesRequest);
    expect(bodies).toHaveLength(5);
    bodies.forEach((body, k) => {
      const expected = order.slice(0, k + 1).flatMap((q, i) => (i < k ? [q, `answer to ${q}`] : [q]));
      expect(texts(body.messages)).toEqual(expected);
    });
  });

  it('retries a 429 before the first token, honouring retry-after, and completes', async () => {
    emulator.enqueue(rateLimited({ retryAfterMs: 20 }), textTurn('after the wait'));
    const id = await api.create();
    await api.send(id, 'hello');
    const messages = await api.settled(id);
    expect(messages[0]!.status).toBe('MESSAGE_STATUS_COMPLETED');
    expect(textOf(messages[1]!)).toBe('after the wait');
    expect(emulator.requests).toHaveLength(2);
  });

  it('fails on an error event mid-stream with a readable reason, then completes on retry without the failed part', async () => {
    emulator.enqueue(errorEventAfter(3, textTurn('this answer will break off here and never finish')), textTurn('second try'));
    const id = await api.create();
    const sent = await api.send(id, 'tell me');
    const failed = await api.settled(id);
    const user = failed.find((m) => m.id === sent.id)!;
    expect(user.status).toBe('MESSAGE_STATUS_FAILED');
    expect(user.error).toMatchObject({ code: 'model_overloaded' });
    expect(user.error?.message).toMatch(/overloaded/i);
    expect(repliesTo(failed, sent.id)[0]!.status).toBe('MESSAGE_STATUS_FAILED');

    const retried = await client.unary('RetryMessage', { conversationId: id, messageId: sent.id });
    expect(retried.ok).toBe(true);
    const done = await api.settled(id);
    expect(done.find((m) => m.id === sent.id)!.status).toBe('MESSAGE_STATUS_COMPLETED');
    const replies = repliesTo(done, sent.id);
    expect(replies.map((r) => r.status)).toEqual(['MESSAGE_STATUS_FAILED', 'MESSAGE_STATUS_COMPLETED']);
    expect(textOf(replies[1]!)).toBe('second try');
    // The retry's request holds the question once and nothing of the failed attempt.
    expect(texts((emulator.requests.at(-1)!.body as MessagesRequest).messages)).toEqual(['tell me']);
  });

  it('cancels mid-stream: keeps the partial answer marked cancelled, and the queue moves on', async () => {
    emulator.enqueue(stallAfter(4, textTurn('one two three four five six seven eight nine ten')), textTurn('next one'));
    const id = await api.create();
    const first = await api.send(id, 'long answer please');
    const second = await api.send(id, 'and then this');
    await emulator.waitForRequests(1);
    // Give the first tokens time to arrive; the stall holds the stream open whatever happens.
    await api.until(id, () => emulator.inFlight === 1);
    await new Promise((resolve) => setTimeout(resolve, 100));

    const cancelled = await client.unary('CancelPrompt', { conversationId: id, messageId: first.id });
    expect(cancelled.ok).toBe(true);
    const messages = await api.settled(id);
    expect(messages.find((m) => m.id === first.id)!.status).toBe('MESSAGE_STATUS_CANCELLED');
    const partial = repliesTo(messages, first.id)[0]!;
    expect(partial.status).toBe('MESSAGE_STATUS_CANCELLED');
    expect('one two three four five six seven eight nine ten'.startsWith(textOf(partial))).toBe(true);
    expect(textOf(partial).length).toBeGreaterThan(0);
    expect(messages.find((m) => m.id === second.id)!.status).toBe('MESSAGE_STATUS_COMPLETED');
    // A cancelled exchange is left out of later histories.
    expect(texts((emulator.requests.at(-1)!.body as MessagesRequest).messages)).toEqual(['and then this']);
  });

  it('cancels a queued message before it runs, and refuses to cancel one that has ended', async () => {
    emulator.enqueue(stallAfter(1, textTurn('hold the queue')));
    const id = await api.create();
    const running = await api.send(id, 'first');
    const queued = await api.send(id, 'second');
    expect(queued.queuePosition).toBe(1);
    await emulator.waitForRequests(1);
    const result = await client.unary('CancelPrompt', { conversationId: id, messageId: queued.id });
    expect(result.ok && (result.response as { message: { status: string } }).message.status).toBe('MESSAGE_STATUS_CANCELLED');
    await client.unary('CancelPrompt', { conversationId: id, messageId: running.id });
    await api.settled(id);
    expect(emulator.requests).toHaveLength(1);
    const again = await client.unary('CancelPrompt', { conversationId: id, messageId: queued.id });
    expect(again.ok === false && again.code).toBe(9); // FAILED_PRECONDITION
  });

  it('is idempotent on request_id: a repeated send returns the first message', async () => {
    emulator.setResponder(() => textTurn('once'));
    const id = await api.create();
    const first = await api.send(id, 'pay the invoice', 'req-42');
    const second = await api.send(id, 'pay the invoice', 'req-42');
    expect(second.id).toBe(first.id);
    const reused = await client.unary('SendMessage', { conversationId: id, text: 'something else', requestId: 'req-42' });
    expect(reused.ok === false && reused.code).toBe(9);
    const messages = await api.settled(id);
    expect(messages.filter((m) => m.role === 'ROLE_USER')).toHaveLength(1);
    expect(emulator.requests).toHaveLength(1);
  });

  it('runs several tool calls of one turn and returns every result in one user turn, in call order', async () => {
    emulator.enqueue(
      {
        blocks: [
          { type: 'tool_use', name: 'calculate', input: { expression: '2^10' }, id: 'toolu_a' },
          { type: 'tool_use', name: 'current_time', input: { time_zone: 'Mars/Olympus' }, id: 'toolu_b' },
          { type: 'tool_use', name: 'calculate', input: { expression: 42 }, id: 'toolu_c' },
        ],
      },
      textTurn('done'),
    );
    const id = await api.create({ enabledTools: ['calculate', 'current_time'] });
    await api.send(id, 'three things at once');
    await api.settled(id);
    const last = (emulator.requests.at(-1)!.body as MessagesRequest).messages.at(-1)!;
    const results = (last.content as Array<{ type: string; tool_use_id: string; content: string; is_error?: boolean }>).filter(
      (b) => b.type === 'tool_result',
    );
    expect(results.map((r) => r.tool_use_id)).toEqual(['toolu_a', 'toolu_b', 'toolu_c']);
    expect(results[0]).toMatchObject({ content: '1024' });
    expect(results[0]!.is_error ?? false).toBe(false);
    // A tool's own failure and input that breaks the tool's schema both reach the model as errors.
    expect(results[1]).toMatchObject({ is_error: true });
    expect(results[1]!.content).toContain('Mars/Olympus');
    expect(results[2]).toMatchObject({ is_error: true });
    expect(results[2]!.content).toContain('input.expression');
  });

  it('completes with stop reason max_tool_rounds instead of looping forever', async () => {
    emulator.setResponder(() => ({ blocks: [{ type: 'tool_use', name: 'calculate', input: { expression: '1+1' } }] }));
    const id = await api.create({ enabledTools: ['calculate'] });
    await api.send(id, 'loop');
    const messages = await api.settled(id);
    const reply = messages.find((m) => m.role === 'ROLE_ASSISTANT')!;
    expect(reply.stopReason).toBe('max_tool_rounds');
    expect(emulator.requests).toHaveLength(10);
  });
});
