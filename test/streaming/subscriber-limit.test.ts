// PARLEY_MAX_SUBSCRIBERS_PER_CONVERSATION: a Subscribe beyond the limit gets resource_exhausted
// before anything is opened; the others keep streaming; a closed stream frees its slot. The
// limit is per instance and per conversation.
import { Code, ConnectError, createClient } from '@connectrpc/connect';
import { createConnectTransport, createGrpcTransport } from '@connectrpc/connect-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConversationService } from '../../gen/parley/v1/conversation_service_pb.ts';
import { AnthropicEmulator, textTurn } from '../../src/emulator/index.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { createRpcClient } from '../support/clients.ts';

const LIMIT = 2;

let emulator: AnthropicEmulator;
let a: TestApp;
let b: TestApp;

beforeAll(async () => {
  emulator = new AnthropicEmulator();
  const url = await emulator.start();
  const env = { ANTHROPIC_API_KEY: 'test-key', ANTHROPIC_BASE_URL: url, PARLEY_HEARTBEAT_MS: '200' };
  a = await startTestApp(env);
  // B runs no prompts and holds the limit under test.
  b = await startTestApp(
    { ...env, PARLEY_MAX_CONCURRENT_PROMPTS: '0', PARLEY_MAX_SUBSCRIBERS_PER_CONVERSATION: String(LIMIT) },
    { databaseUrl: a.databaseUrl },
  );
});

afterAll(async () => {
  await b?.app.close();
  await a?.close();
  await emulator?.close();
});

function clientFor(app: TestApp, protocol: 'grpc' | 'connect') {
  const transport = protocol === 'grpc' ? createGrpcTransport({ baseUrl: app.baseUrl }) : createConnectTransport({ baseUrl: app.baseUrl, httpVersion: '1.1' });
  return createClient(ConversationService, transport);
}

/** A Subscribe stream read in the background until it ends or is stopped. */
function follow(app: TestApp, conversationId: string, protocol: 'grpc' | 'connect' = 'grpc') {
  const abort = new AbortController();
  const cases: string[] = [];
  const { promise: opened, resolve: snapshotSeen } = Promise.withResolvers<void>();
  const ended = (async (): Promise<ConnectError | null> => {
    try {
      for await (const response of clientFor(app, protocol).subscribe({ conversationId }, { signal: abort.signal })) {
        cases.push(response.event.case ?? '');
        if (response.event.case === 'snapshot') snapshotSeen();
      }
      return null;
    } catch (error) {
      return ConnectError.from(error);
    }
  })();
  return { cases, opened, ended, stop: () => abort.abort() };
}

async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not reached');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('subscribers per conversation', () => {
  it('refuses a Subscribe beyond the limit with resource_exhausted, and the others keep streaming', async () => {
    const { conversation } = await clientFor(a, 'grpc').createConversation({ title: 'popular' });
    const conversationId = conversation!.id;
    const first = follow(b, conversationId, 'grpc');
    const second = follow(b, conversationId, 'connect');
    await Promise.all([first.opened, second.opened]);
    expect(b.app.hub.subscribersOf(conversationId)).toBe(LIMIT);

    const message = `conversation ${conversationId} already has ${LIMIT} open subscriptions on this instance, the most it may have; close one, or retry later`;
    for (const protocol of ['grpc', 'connect'] as const) {
      const over = follow(b, conversationId, protocol);
      const error = await over.ended;
      expect(error?.code).toBe(Code.ResourceExhausted);
      expect(error?.rawMessage).toBe(message);
      expect(over.cases).toEqual([]);
    }
    // grpc-js, as a backend would call it, gets the same code.
    const grpcJs = createRpcClient('grpc-js', b.baseUrl);
    try {
      const refused = await grpcJs.stream('Subscribe', { conversationId });
      expect(refused.error?.code).toBe(Code.ResourceExhausted);
      expect(refused.responses).toEqual([]);
    } finally {
      grpcJs.close();
    }
    // The refused streams opened nothing.
    expect(b.app.hub.subscribersOf(conversationId)).toBe(LIMIT);

    // The limit is per instance: A still serves this conversation's subscribers.
    const elsewhere = follow(a, conversationId);
    await elsewhere.opened;

    // Those admitted miss nothing of the prompt that runs meanwhile.
    emulator.enqueue(textTurn('everyone sees this'));
    await clientFor(a, 'grpc').sendMessage({ conversationId, text: 'hello all' });
    await until(() => [first, second, elsewhere].every((s) => s.cases.includes('promptFinished')));
    for (const s of [first, second, elsewhere]) {
      expect(s.cases.filter((c) => c !== 'heartbeat')).toEqual(elsewhere.cases.filter((c) => c !== 'heartbeat'));
      s.stop();
    }
    await Promise.all([first.ended, second.ended, elsewhere.ended]);
  });

  it('counts each conversation on its own', async () => {
    const client = clientFor(a, 'grpc');
    const full = (await client.createConversation({ title: 'full' })).conversation!.id;
    const other = (await client.createConversation({ title: 'other' })).conversation!.id;
    const holders = [follow(b, full), follow(b, full)];
    await Promise.all(holders.map((h) => h.opened));
    expect((await follow(b, full).ended)?.code).toBe(Code.ResourceExhausted);

    const fine = follow(b, other);
    await fine.opened;
    for (const s of [...holders, fine]) s.stop();
    await Promise.all([...holders, fine].map((s) => s.ended));
  });

  it('frees the slot of a closed subscription', async () => {
    const { conversation } = await clientFor(a, 'grpc').createConversation({ title: 'turnover' });
    const conversationId = conversation!.id;
    const holders = [follow(b, conversationId), follow(b, conversationId, 'connect')];
    await Promise.all(holders.map((h) => h.opened));
    expect((await follow(b, conversationId).ended)?.code).toBe(Code.ResourceExhausted);

    // A client that goes away (cancel) frees its slot; so does one whose stream ends.
    holders[0]!.stop();
    await holders[0]!.ended;
    await until(() => b.app.hub.subscribersOf(conversationId) === LIMIT - 1);
    const replacement = follow(b, conversationId);
    await replacement.opened;
    expect(b.app.hub.subscribersOf(conversationId)).toBe(LIMIT);

    // Deleting the conversation ends every stream with not_found, and every slot is freed.
    await clientFor(a, 'grpc').deleteConversation({ conversationId });
    expect((await holders[1]!.ended)?.code).toBe(Code.NotFound);
    expect((await replacement.ended)?.code).toBe(Code.NotFound);
    await until(() => b.app.hub.subscribersOf(conversationId) === 0);
  });
});
