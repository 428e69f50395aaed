import { create, equals, toJson } from '@bufbuild/protobuf';
import { Code, ConnectError, createClient } from '@connectrpc/connect';
import { createConnectTransport, createGrpcTransport } from '@connectrpc/connect-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConversationService, GetConversationResponseSchema } from '../../gen/parley/v1/conversation_service_pb.ts';
import { ConversationState } from '../../src/client/index.ts';
import { AnthropicEmulator, textTurn, toolUseTurn } from '../../src/emulator/index.ts';
import { SubscriberOverflow } from '../../src/engine/event-hub.ts';
import { startTestApp, type TestApp } from '../support/app.ts';

let emulator: AnthropicEmulator;
let a: TestApp;
let b: TestApp;

beforeAll(async () => {
  emulator = new AnthropicEmulator();
  const url = await emulator.start();
  const env = { ANTHROPIC_API_KEY: 'test-key', ANTHROPIC_BASE_URL: url, PARLEY_DELTA_FLUSH_MS: '5', PARLEY_HEARTBEAT_MS: '100' };
  a = await startTestApp(env);
  // B runs no prompts: whatever streams to its subscribers was produced by A.
  b = await startTestApp({ ...env, PARLEY_MAX_CONCURRENT_PROMPTS: '0', PARLEY_SUBSCRIBER_BUFFER_EVENTS: '20' }, { databaseUrl: a.databaseUrl });
});

afterAll(async () => {
  await b?.app.close();
  await a?.close();
  await emulator?.close();
});

function clientFor(app: TestApp, protocol: 'grpc' | 'connect' = 'grpc') {
  const transport = protocol === 'grpc' ? createGrpcTransport({ baseUrl: app.baseUrl }) : createConnectTransport({ baseUrl: app.baseUrl, httpVersion: '1.1' });
  return createClient(ConversationService, transport);
}

describe('Subscribe', () => {
  it('lets a subscriber on one instance follow prompts that another instance runs, matching GetConversation after each', async () => {
    const onA = clientFor(a);
    const onB = clientFor(b, 'connect');
    const { conversation } = await onA.createConversation({ title: 'across instances', settings: { enabledTools: ['calculate'] } });
    const conversationId = conversation!.id;
    emulator.enqueue(
      textTurn('first answer, streamed in many small pieces so that deltas are coalesced', { tokensPerSecond: 800 }),
      toolUseTurn('calculate', { expression: '6*7' }, { preamble: 'Let me work that out.' }),
      textTurn('It is 42.', { tokensPerSecond: 800 }),
    );

    const abort = new AbortController();
    const state = new ConversationState();
    const kinds: string[] = [];
    const questions = ['first', 'what is six times seven?'];
    try {
      for await (const response of onB.subscribe({ conversationId }, { signal: abort.signal })) {
        expect(state.apply(response)).not.toBe('gap');
        if (response.event.case !== 'heartbeat') kinds.push(response.event.case ?? '');
        const ended = response.event.case === 'promptFinished';
        if (ended) {
          // Between prompts the conversation is at rest: the reconstructed state is exactly what
          // GetConversation returns.
          const fresh = create(GetConversationResponseSchema, await onA.getConversation({ conversationId }));
          const held = state.toGetConversationResponse();
          expect(toJson(GetConversationResponseSchema, held)).toEqual(toJson(GetConversationResponseSchema, fresh));
          expect(equals(GetConversationResponseSchema, held, fresh)).toBe(true);
        }
        if (response.event.case === 'snapshot' || ended) {
          const next = questions.shift();
          if (next === undefined) break;
          await onA.sendMessage({ conversationId, text: next });
        }
      }
    } finally {
      abort.abort();
    }
    expect(kinds[0]).toBe('snapshot');
    for (const kind of ['messageQueued', 'messageStatusChanged', 'blockStarted', 'blockDelta', 'blockStopped', 'toolCallRequested', 'toolCallStarted', 'toolCallFinished', 'promptFinished']) {
      expect(kinds).toContain(kind);
    }
    const call = [...state.toolCalls.values()][0];
    expect(call).toMatchObject({ name: 'calculate', status: 'finished', content: '42', isError: false });
  });

  it('delivers events too large for a notification by reference, in order', async () => {
    const client = clientFor(a);
    const { conversation } = await client.createConversation({ title: 'large events' });
    const conversationId = conversation!.id;
    const systemPrompt = 'Be thorough. '.repeat(5_000); // ~65 kB: far over the 8 kB NOTIFY limit
    const abort = new AbortController();
    const seen: Array<[bigint, string]> = [];
    try {
      for await (const response of clientFor(b).subscribe({ conversationId }, { signal: abort.signal })) {
        seen.push([response.seq, response.event.case ?? '']);
        if (response.event.case === 'snapshot') {
          await client.updateConversation({ conversationId, title: 'renamed' });
          await client.updateConversation({ conversationId, settings: { systemPrompt } });
          await client.updateConversation({ conversationId, title: 'renamed again' });
        }
        if (response.event.case === 'conversationUpdated' && response.event.value.conversation?.title === 'renamed again') {
          break;
        }
        if (response.event.case === 'conversationUpdated' && response.seq === 2n) {
          expect(response.event.value.conversation?.settings?.systemPrompt).toBe(systemPrompt);
        }
      }
    } finally {
      abort.abort();
    }
    expect(seen).toEqual([
      [0n, 'snapshot'],
      [1n, 'conversationUpdated'],
      [2n, 'conversationUpdated'],
      [3n, 'conversationUpdated'],
    ]);
  });

  it('sends heartbeats on an idle stream, carrying the last seq', async () => {
    const client = clientFor(b);
    const { conversation } = await client.createConversation({ title: 'idle' });
    const abort = new AbortController();
    const cases: string[] = [];
    for await (const response of client.subscribe({ conversationId: conversation!.id }, { signal: abort.signal })) {
      cases.push(response.event.case ?? '');
      expect(response.seq).toBe(0n);
      if (cases.length === 3) break;
    }
    abort.abort();
    expect(cases).toEqual(['snapshot', 'heartbeat', 'heartbeat']);
  });

  it('answers a resume it cannot serve with a snapshot marked reset', async () => {
    const client = clientFor(a);
    const { conversation } = await client.createConversation({ title: 'reset' });
    const abort = new AbortController();
    for await (const response of client.subscribe({ conversationId: conversation!.id, afterSeq: 999n }, { signal: abort.signal })) {
      expect(response.event.case).toBe('snapshot');
      expect(response.event.case === 'snapshot' && response.event.value.reset).toBe(true);
      break;
    }
    abort.abort();
  });

  it('ends a subscriber that falls too far behind, without slowing the prompt', async () => {
    const client = clientFor(a);
    const { conversation } = await client.createConversation({ title: 'slow reader' });
    const conversationId = conversation!.id;
    // B's hub, as Subscribe uses it, with a subscriber that never takes its events.
    const subscription = b.app.hub.subscribe(conversationId, 'default');
    subscription.startAfter(0);
    try {
      emulator.enqueue(textTurn(Array.from({ length: 400 }, (_, i) => `word${i}`).join(' '), { tokensPerSecond: 2_000 }));
      await client.sendMessage({ conversationId, text: 'a long answer please' });
      // The prompt completes on its own schedule, whatever the stuck reader does.
      for (;;) {
        const { messages } = await client.getConversation({ conversationId });
        if (messages[0]?.status === 3) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const never = new AbortController().signal;
      await expect(subscription.next(1_000, never)).rejects.toBeInstanceOf(SubscriberOverflow);
    } finally {
      subscription.close();
    }
  });

  it('frees every subscription when streams are cancelled', async () => {
    const client = clientFor(b);
    const { conversation } = await client.createConversation({ title: 'many' });
    const aborts = Array.from({ length: 25 }, () => new AbortController());
    const streams = aborts.map(async (abort) => {
      try {
        for await (const response of client.subscribe({ conversationId: conversation!.id }, { signal: abort.signal })) void response;
      } catch (error) {
        if (ConnectError.from(error).code !== Code.Canceled) throw error;
      }
    });
    while (b.app.hub.subscriberCount < 25) await new Promise((resolve) => setTimeout(resolve, 10));
    for (const abort of aborts) abort.abort();
    await Promise.all(streams);
    while (b.app.hub.subscriberCount > 0) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(b.app.hub.subscriberCount).toBe(0);
  });

  it('ends subscriptions of a deleted conversation with not_found', async () => {
    const client = clientFor(a);
    const { conversation } = await client.createConversation({ title: 'doomed' });
    const abort = new AbortController();
    const received: string[] = [];
    const ended = (async () => {
      try {
        for await (const response of clientFor(b).subscribe({ conversationId: conversation!.id }, { signal: abort.signal })) {
          received.push(response.event.case ?? '');
        }
        return null;
      } catch (error) {
        return ConnectError.from(error).code;
      }
    })();
    while (received.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    await client.deleteConversation({ conversationId: conversation!.id });
    expect(await ended).toBe(Code.NotFound);
  });
});
