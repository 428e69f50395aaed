// The model API failing in each way the emulator can script, against the real app (in process)
// and the real SDK. After each fault: every message ended, with a reason a user can read when it
// failed, and no user message has more than one completed answer. What each fault leads to is
// what docs/engine.md ("Model errors and retries") documents; where it is not, the test is
// marked `it.fails` and names the bug.
import { createServer } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  AnthropicEmulator,
  dropAfter,
  errorEventAfter,
  overloaded,
  rateLimited,
  serverError,
  stallAfter,
  textTurn,
  type MessagesRequest,
} from '../../src/emulator/index.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { createRpcClient, type RpcClient } from '../support/clients.ts';
import { conversationApi, repliesTo, textOf, type StoredMessage } from '../support/conversation.ts';

const MAX_RETRIES = 2;
const TERMINAL = new Set(['MESSAGE_STATUS_COMPLETED', 'MESSAGE_STATUS_FAILED', 'MESSAGE_STATUS_CANCELLED']);

let emulator: AnthropicEmulator;
let server: TestApp;
let client: RpcClient;
let api: ReturnType<typeof conversationApi>;

beforeAll(async () => {
  emulator = new AnthropicEmulator();
  const url = await emulator.start();
  server = await startTestApp({
    ANTHROPIC_API_KEY: 'test-key',
    ANTHROPIC_BASE_URL: url,
    ANTHROPIC_MAX_RETRIES: String(MAX_RETRIES),
    PARLEY_QUEUE_POLL_MS: '200',
  });
  client = createRpcClient('grpc-js', server.baseUrl);
  api = conversationApi(client);
});

afterEach(() => {
  emulator.reset();
});

afterAll(async () => {
  client?.close();
  await server?.close();
  await emulator?.close();
});

async function call(method: string, request: Record<string, string>) {
  const result = await client.unary(method, request);
  if (!result.ok) throw new Error(`${method} failed: ${result.code} ${result.message}`);
  return result.response;
}

/** Every message ended; a failed one says why; no user message has two completed answers. */
function expectAllEnded(messages: StoredMessage[]): void {
  const problems: string[] = [];
  for (const message of messages) {
    if (!TERMINAL.has(message.status)) problems.push(`${message.role} ${message.id} is ${message.status}`);
    if (message.status !== 'MESSAGE_STATUS_COMPLETED' && !(message.error?.code && message.error.message)) {
      problems.push(`${message.role} ${message.id} is ${message.status} without a reason`);
    }
  }
  for (const user of messages.filter((m) => m.role === 'ROLE_USER')) {
    const completed = repliesTo(messages, user.id).filter((r) => r.status === 'MESSAGE_STATUS_COMPLETED').length;
    if (completed !== (user.status === 'MESSAGE_STATUS_COMPLETED' ? 1 : 0)) problems.push(`"${textOf(user)}" (${user.status}) has ${completed} completed answers`);
  }
  expect(problems).toEqual([]);
}

/** The text streamed so far into the first reply to `userId`. */
function firstReplyText(messages: StoredMessage[], userId: string): string {
  const reply = repliesTo(messages, userId)[0];
  return reply ? textOf(reply) : '';
}

function assistantTurns(request: MessagesRequest): number {
  return request.messages.filter((m) => m.role === 'assistant').length;
}

/** Sends one message, waits for it to end, and returns it with its replies. */
async function sendAndSettle(id: string, text: string) {
  const sent = await api.send(id, text);
  const messages = await api.settled(id, 30_000);
  const user = messages.find((m) => m.id === sent.id)!;
  return { messages, user, replies: repliesTo(messages, sent.id) };
}

async function retryAndSettle(id: string, messageId: string) {
  await call('RetryMessage', { conversationId: id, messageId });
  const messages = await api.settled(id, 30_000);
  return { messages, user: messages.find((m) => m.id === messageId)!, replies: repliesTo(messages, messageId) };
}

describe('model faults', () => {
  it('429 with retry-after, then success: the SDK waits and retries; COMPLETED', async () => {
    emulator.enqueue(rateLimited({ retryAfterSeconds: 1 }), textTurn('answered after the rate limit'));
    const id = await api.create();
    const { messages, user, replies } = await sendAndSettle(id, 'hello');
    expect(user.status).toBe('MESSAGE_STATUS_COMPLETED');
    expect(replies.map((r) => [r.status, textOf(r)])).toEqual([['MESSAGE_STATUS_COMPLETED', 'answered after the rate limit']]);
    expect(emulator.messageBodies).toHaveLength(2);
    expectAllEnded(messages);
  });

  it(`529 beyond the ${MAX_RETRIES} retries: FAILED model_overloaded with a readable reason; the queue moves on`, async () => {
    emulator.enqueue(...Array.from({ length: MAX_RETRIES + 1 }, () => overloaded()), textTurn('the next message is answered'));
    const id = await api.create();
    const first = await api.send(id, 'first');
    const second = await api.send(id, 'second');
    const messages = await api.settled(id, 30_000);
    const user = messages.find((m) => m.id === first.id)!;
    expect(user.status).toBe('MESSAGE_STATUS_FAILED');
    expect(user.error?.code).toBe('model_overloaded');
    expect(user.error?.message).toMatch(/overloaded/i);
    // The attempt's reply ends with the same reason; it streamed nothing.
    expect(repliesTo(messages, first.id).map((r) => [r.status, r.error?.code, textOf(r)])).toEqual([['MESSAGE_STATUS_FAILED', 'model_overloaded', '']]);
    // One request and its retries, then the next message.
    expect(emulator.messageBodies).toHaveLength(MAX_RETRIES + 2);
    expect(messages.find((m) => m.id === second.id)!.status).toBe('MESSAGE_STATUS_COMPLETED');
    expect(textOf(repliesTo(messages, second.id)[0]!)).toBe('the next message is answered');
    expectAllEnded(messages);
  });

  it('500, then success: retried by the SDK; COMPLETED', async () => {
    emulator.enqueue(serverError(), textTurn('answered after a 500'));
    const id = await api.create();
    const { messages, user, replies } = await sendAndSettle(id, 'hello');
    expect(user.status).toBe('MESSAGE_STATUS_COMPLETED');
    expect(replies.map((r) => textOf(r))).toEqual(['answered after a 500']);
    expect(emulator.messageBodies).toHaveLength(2);
    expectAllEnded(messages);
  });

  it('`event: error` mid-stream: FAILED with a readable reason, not retried; RetryMessage completes without the partial answer', async () => {
    emulator.enqueue(errorEventAfter(3, textTurn('this answer breaks off after three words')), textTurn('the whole answer'));
    const id = await api.create();
    const failed = await sendAndSettle(id, 'hello');
    expect(failed.user.status).toBe('MESSAGE_STATUS_FAILED');
    expect(failed.user.error?.code).toBe('model_overloaded');
    expect(failed.user.error?.message).toMatch(/overloaded/i);
    expect(failed.replies).toHaveLength(1);
    expect('this answer breaks off after three words'.startsWith(textOf(failed.replies[0]!))).toBe(true);
    expect(textOf(failed.replies[0]!).length).toBeGreaterThan(0);
    expect(emulator.messageBodies).toHaveLength(1);
    expectAllEnded(failed.messages);

    const retried = await retryAndSettle(id, failed.user.id);
    expect(retried.user.status).toBe('MESSAGE_STATUS_COMPLETED');
    expect(retried.replies.map((r) => [r.status, textOf(r)])).toEqual([
      ['MESSAGE_STATUS_FAILED', textOf(failed.replies[0]!)],
      ['MESSAGE_STATUS_COMPLETED', 'the whole answer'],
    ]);
    // The failed attempt never reaches the model.
    expect(assistantTurns(emulator.messageBodies[1] as MessagesRequest)).toBe(0);
    expectAllEnded(retried.messages);
  });

  it('dropped connection mid-stream: FAILED with a readable reason, not retried; RetryMessage completes', async () => {
    emulator.enqueue(dropAfter(3, textTurn('this answer is cut off after three words')), textTurn('the whole answer'));
    const id = await api.create();
    const failed = await sendAndSettle(id, 'hello');
    expect(failed.user.status).toBe('MESSAGE_STATUS_FAILED');
    expect(failed.user.error?.message).toBeTruthy();
    expect(failed.replies.map((r) => r.status)).toEqual(['MESSAGE_STATUS_FAILED']);
    expect('this answer is cut off after three words'.startsWith(textOf(failed.replies[0]!))).toBe(true);
    // Once tokens have streamed, the SDK does not retry (docs/engine.md).
    expect(emulator.messageBodies).toHaveLength(1);
    expectAllEnded(failed.messages);

    const retried = await retryAndSettle(id, failed.user.id);
    expect(retried.user.status).toBe('MESSAGE_STATUS_COMPLETED');
    expect(textOf(retried.replies.at(-1)!)).toBe('the whole answer');
    expect(assistantTurns(emulator.messageBodies[1] as MessagesRequest)).toBe(0);
    expectAllEnded(retried.messages);
  });

  it('dropped connection after HTTP 200 but before the first token: not retried either, FAILED', async () => {
    emulator.enqueue(dropAfter(0, textTurn('never sent')), textTurn('not asked for'));
    const id = await api.create();
    const { messages, user } = await sendAndSettle(id, 'hello');
    expect(user.status).toBe('MESSAGE_STATUS_FAILED');
    expect(user.error?.message).toBeTruthy();
    expect(emulator.messageBodies).toHaveLength(1);
    expectAllEnded(messages);
  });

  // The SDK reports this as a bare `AnthropicError: terminated` (cause: fetch's TypeError), not as
  // APIConnectionError; describeModelFailure recognises it.
  it('dropped connection mid-stream fails with code model_unreachable, as docs/engine.md documents', async () => {
    emulator.enqueue(dropAfter(3, textTurn('this answer is cut off after three words')));
    const id = await api.create();
    const { user } = await sendAndSettle(id, 'hello');
    expect(user.error?.code).toBe('model_unreachable');
  });

  it('the model API unreachable (connection refused): retried, then FAILED model_unreachable', async () => {
    const closedPort = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as { port: number };
        probe.close(() => resolve(port));
      });
    });
    const app = await startTestApp({ ANTHROPIC_API_KEY: 'test-key', ANTHROPIC_BASE_URL: `http://127.0.0.1:${closedPort}`, ANTHROPIC_MAX_RETRIES: '1' });
    const other = createRpcClient('connect-node/connect', app.baseUrl);
    try {
      const otherApi = conversationApi(other);
      const id = await otherApi.create();
      await otherApi.send(id, 'hello');
      const messages = await otherApi.settled(id, 30_000);
      expect(messages[0]!.status).toBe('MESSAGE_STATUS_FAILED');
      expect(messages[0]!.error?.code).toBe('model_unreachable');
      expectAllEnded(messages);
    } finally {
      other.close();
      await app.close();
    }
  });

  it('a stalled stream: CancelPrompt stops it, the message ends CANCELLED and the queue moves on', async () => {
    emulator.enqueue(stallAfter(3, textTurn('this answer stalls after three words')), textTurn('the next message is answered'));
    const id = await api.create();
    const stalled = await api.send(id, 'first');
    const next = await api.send(id, 'second');
    await api.until(id, (messages) => firstReplyText(messages, stalled.id).length > 0);
    await call('CancelPrompt', { conversationId: id, messageId: stalled.id });
    const messages = await api.settled(id, 30_000);
    expect(messages.find((m) => m.id === stalled.id)!.status).toBe('MESSAGE_STATUS_CANCELLED');
    expect(messages.find((m) => m.id === next.id)!.status).toBe('MESSAGE_STATUS_COMPLETED');
    expect(emulator.messageBodies).toHaveLength(2);
    expectAllEnded(messages);
    // The SDK aborted the stalled request: the emulator holds no open response.
    await emulator.whenIdle();
  });

  // The SDK's `timeout` only covers the wait for response headers; PARLEY_MODEL_IDLE_TIMEOUT_MS
  // bounds the silence between stream events (pings do not count).
  it('a stream that stalls after its first tokens ends the prompt (FAILED, readable reason) within a bounded time', async () => {
    const app = await startTestApp({
      ANTHROPIC_API_KEY: 'test-key',
      ANTHROPIC_BASE_URL: emulator.url,
      PARLEY_MODEL_IDLE_TIMEOUT_MS: '2000',
    });
    const other = createRpcClient('connect-node/connect', app.baseUrl);
    const otherApi = conversationApi(other);
    let id = '';
    let messageId = '';
    try {
      emulator.enqueue(stallAfter(3, textTurn('this answer stalls after three words')));
      id = await otherApi.create();
      messageId = (await otherApi.send(id, 'hello')).id;
      const messages = await otherApi.settled(id, 6_000);
      expect(messages[0]!.status).toBe('MESSAGE_STATUS_FAILED');
      expect(messages[0]!.error?.code).toBe('model_stalled');
      expect(messages[0]!.error?.message).toBeTruthy();
    } finally {
      if (messageId) await other.unary('CancelPrompt', { conversationId: id, messageId });
      other.close();
      await app.close();
    }
  }, 30_000);
});
