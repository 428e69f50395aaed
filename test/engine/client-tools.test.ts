import { Code, createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { ConversationService } from '../../gen/parley/v1/conversation_service_pb.ts';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AnthropicEmulator, textTurn, toolUseTurn, type MessagesRequest } from '../../src/emulator/index.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { createRpcClient, type RpcClient } from '../support/clients.ts';
import { conversationApi, repliesTo, textOf } from '../support/conversation.ts';
import { grpcSubscriber } from '../support/grpc-subscriber.ts';

const lookupOrder = {
  name: 'lookup_order',
  description: 'Finds an order by its number.',
  inputSchema: { type: 'object', properties: { number: { type: 'string' } }, required: ['number'] },
};

let emulator: AnthropicEmulator;
let env: Record<string, string>;
let server: TestApp;
let caller: RpcClient;

beforeAll(async () => {
  emulator = new AnthropicEmulator();
  env = { ANTHROPIC_API_KEY: 'test-key', ANTHROPIC_BASE_URL: await emulator.start() };
  server = await startTestApp(env);
  caller = createRpcClient('grpc-js', server.baseUrl);
});

afterEach(() => emulator.reset());

afterAll(async () => {
  caller?.close();
  await server?.close();
  await emulator?.close();
});

/** The tool results the model received in its last request. */
function lastToolResults(): unknown[] {
  const body = emulator.requests.at(-1)!.body as MessagesRequest;
  const last = body.messages.at(-1)!;
  return typeof last.content === 'string' ? [] : last.content.filter((b) => b.type === 'tool_result');
}

describe('client tools', () => {
  it('hands a call to the caller over the stream, takes its answer with SubmitToolResult, and completes', async () => {
    emulator.enqueue(toolUseTurn('lookup_order', { number: 'A-17' }, { preamble: 'Let me check.' }), textTurn('Order A-17 ships on Monday.'));
    const api = conversationApi(caller);
    const conversationId = await api.create({ clientTools: [lookupOrder] });

    // A second client watches the tool events over Connect, until the call has its result.
    const watcher = createClient(ConversationService, createConnectTransport({ baseUrl: server.baseUrl, httpVersion: '1.1' }));
    const watching = (async () => {
      const kinds: string[] = [];
      const abort = new AbortController();
      for await (const response of watcher.subscribe({ conversationId }, { signal: abort.signal })) {
        kinds.push(response.event.case ?? '');
        if (response.event.case === 'toolCallFinished') break;
      }
      abort.abort();
      return kinds;
    })();

    const subscriber = grpcSubscriber(server.baseUrl);
    const stream = subscriber.open(conversationId);
    try {
      expect((await stream.next())?.event.case).toBe('snapshot');
      await api.send(conversationId, 'When does order A-17 ship?');
      let awaiting;
      for (;;) {
        const response = await stream.next();
        if (!response) throw new Error('stream ended');
        if (response.event.case === 'toolCallAwaitingClient') {
          awaiting = response.event.value;
          break;
        }
      }
      expect(awaiting).toMatchObject({ name: 'lookup_order', input: { number: 'A-17' } });
      expect(awaiting.deadline).toBeDefined();

      const answer = await caller.unary('SubmitToolResult', {
        conversationId,
        toolUseId: awaiting.toolUseId,
        content: 'Order A-17: shipping Monday, 2 items.',
      });
      expect(answer.ok).toBe(true);
      const again = await caller.unary('SubmitToolResult', { conversationId, toolUseId: awaiting.toolUseId, content: 'twice' });
      expect(again.ok === false && again.code).toBe(Code.FailedPrecondition);

      const messages = await api.settled(conversationId);
      const user = messages.find((m) => m.role === 'ROLE_USER')!;
      expect(user.status).toBe('MESSAGE_STATUS_COMPLETED');
      expect(textOf(repliesTo(messages, user.id)[0]!)).toContain('Order A-17 ships on Monday.');
      expect(lastToolResults()).toEqual([
        expect.objectContaining({ type: 'tool_result', tool_use_id: awaiting.toolUseId, content: 'Order A-17: shipping Monday, 2 items.' }),
      ]);
    } finally {
      stream.cancel();
      subscriber.close();
    }
    expect(await watching).toEqual(expect.arrayContaining(['toolCallRequested', 'toolCallAwaitingClient', 'toolCallFinished']));
  });

  it('refuses answers for calls that do not exist here, with precise codes', async () => {
    const api = conversationApi(caller);
    const conversationId = await api.create({ clientTools: [lookupOrder] });
    const other = await api.create();
    const unknown = await caller.unary('SubmitToolResult', { conversationId, toolUseId: 'toolu_nothing', content: 'x' });
    expect(unknown.ok === false && unknown.code).toBe(Code.NotFound);
    const malformed = await caller.unary('SubmitToolResult', { conversationId, toolUseId: 'not an id!', content: 'x' });
    expect(malformed.ok === false && malformed.code).toBe(Code.InvalidArgument);

    // A real waiting call, answered through the wrong conversation.
    emulator.enqueue(toolUseTurn('lookup_order', { number: 'B-2' }), textTurn('done'));
    await api.send(conversationId, 'check B-2');
    const waiting = await api.until(conversationId, (messages) => messages.some((m) => m.blocks?.some((b) => b.toolUse)));
    const toolUseId = waiting.flatMap((m) => m.blocks ?? []).find((b) => b.toolUse)!.toolUse!.id as string;
    const wrong = await caller.unary('SubmitToolResult', { conversationId: other, toolUseId, content: 'x' });
    expect(wrong.ok === false && wrong.code).toBe(Code.NotFound);
    await caller.unary('CancelPrompt', { conversationId, messageId: waiting.find((m) => m.role === 'ROLE_USER')!.id });
    await api.settled(conversationId);
  });

  it('answers for the caller with an error once the call times out', async () => {
    const quick = await startTestApp({ ...env, PARLEY_CLIENT_TOOL_TIMEOUT_MS: '300' });
    const client = createRpcClient('connect-node/grpc', quick.baseUrl);
    try {
      emulator.enqueue(toolUseTurn('lookup_order', { number: 'C-3' }), textTurn('I could not look that up.'));
      const api = conversationApi(client);
      const conversationId = await api.create({ clientTools: [lookupOrder] });
      await api.send(conversationId, 'check C-3');
      const messages = await api.settled(conversationId);
      expect(messages.find((m) => m.role === 'ROLE_USER')!.status).toBe('MESSAGE_STATUS_COMPLETED');
      const [result] = lastToolResults() as Array<{ is_error: boolean; content: string }>;
      expect(result).toMatchObject({ is_error: true });
      expect(result!.content).toBe("The client did not answer this tool call within 300 ms.");
    } finally {
      client.close();
      await quick.close();
    }
  });

  it('keeps waiting across an instance restart: the answer completes the prompt without asking the model again', async () => {
    const first = await startTestApp(env);
    const firstClient = createRpcClient('grpc-js', first.baseUrl);
    emulator.enqueue(toolUseTurn('lookup_order', { number: 'D-4' }), textTurn('D-4 is on its way.'));
    const api = conversationApi(firstClient);
    const conversationId = await api.create({ clientTools: [lookupOrder] });
    await api.send(conversationId, 'where is D-4?');
    const waiting = await api.until(conversationId, (messages) => messages.some((m) => m.blocks?.some((b) => b.toolUse)));
    const toolUseId = waiting.flatMap((m) => m.blocks ?? []).find((b) => b.toolUse)!.toolUse!.id as string;
    // The block shows as soon as it starts streaming; the wait itself begins once the call's
    // row is stored. Stopping the instance before that gives the prompt back instead.
    await untilAwaiting(first.app.stores.clientCalls, toolUseId);
    firstClient.close();
    await first.app.close(); // the instance goes away while the call waits

    const second = await startTestApp(env, { databaseUrl: first.databaseUrl });
    const secondClient = createRpcClient('grpc-js', second.baseUrl);
    try {
      const answer = await secondClient.unary('SubmitToolResult', { conversationId, toolUseId, content: 'D-4: out for delivery' });
      expect(answer.ok).toBe(true);
      const messages = await conversationApi(secondClient).settled(conversationId);
      const user = messages.find((m) => m.role === 'ROLE_USER')!;
      expect(user.status).toBe('MESSAGE_STATUS_COMPLETED');
      const replies = repliesTo(messages, user.id);
      expect(replies).toHaveLength(1);
      expect(textOf(replies[0]!)).toBe('D-4 is on its way.');
      expect(emulator.requests).toHaveLength(2);
      expect(lastToolResults()).toEqual([
        expect.objectContaining({ type: 'tool_result', tool_use_id: toolUseId, content: 'D-4: out for delivery' }),
      ]);
    } finally {
      secondClient.close();
      await second.close();
    }
  });
});

async function untilAwaiting(clientCalls: TestApp['app']['stores']['clientCalls'], toolUseId: string): Promise<void> {
  for (const start = Date.now(); Date.now() - start < 10_000; ) {
    const [call] = await clientCalls.states([toolUseId]);
    if (call?.status === 'awaiting') return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`client tool call ${toolUseId} never started waiting`);
}
