// PARLEY_MAX_SUBSCRIBERS: the Subscribe streams one instance holds over every conversation are
// capped, so that a flood of streams leaves memory bounded; one more gets resource_exhausted with
// the limit, and a closed stream frees its slot.
import { Code, ConnectError, createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConversationService } from '../../gen/parley/v1/conversation_service_pb.ts';
import { startTestApp, type TestApp } from '../support/app.ts';

const LIMIT = 3;
let server: TestApp;

beforeAll(async () => {
  server = await startTestApp({ PARLEY_MAX_SUBSCRIBERS: String(LIMIT), PARLEY_HEARTBEAT_MS: '200' });
});

afterAll(async () => {
  await server?.close();
});

describe('subscriptions per instance', () => {
  it('are capped over every conversation, and a closed one frees its slot', async () => {
    const client = createClient(ConversationService, createGrpcTransport({ baseUrl: server.baseUrl }));
    const ids = await Promise.all(Array.from({ length: LIMIT + 1 }, async (_, i) => (await client.createConversation({ title: `c${i}` })).conversation!.id));
    const open = ids.slice(0, LIMIT).map((conversationId) => {
      const abort = new AbortController();
      const ended = (async () => {
        try {
          for await (const _ of client.subscribe({ conversationId }, { signal: abort.signal })) void _;
        } catch (error) {
          return ConnectError.from(error);
        }
        return null;
      })();
      return { abort, ended };
    });
    for (let waited = 0; server.app.hub.subscriberCount < LIMIT && waited < 5_000; waited += 20) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(server.app.hub.subscriberCount).toBe(LIMIT);

    const refused = await (async () => {
      try {
        for await (const _ of client.subscribe({ conversationId: ids[LIMIT]! })) void _;
        return null;
      } catch (error) {
        return ConnectError.from(error);
      }
    })();
    expect(refused?.code).toBe(Code.ResourceExhausted);
    expect(refused?.rawMessage).toContain(`this instance already has ${LIMIT} open subscriptions`);

    open[0]!.abort.abort();
    await open[0]!.ended;
    for (let waited = 0; server.app.hub.subscriberCount >= LIMIT && waited < 5_000; waited += 20) await new Promise((resolve) => setTimeout(resolve, 20));
    const abort = new AbortController();
    let snapshot = false;
    try {
      for await (const response of client.subscribe({ conversationId: ids[LIMIT]! }, { signal: abort.signal })) {
        snapshot = response.event.case === 'snapshot';
        abort.abort();
      }
    } catch {
      // Aborted by this test, after the snapshot.
    }
    expect(snapshot).toBe(true);
    for (const stream of open.slice(1)) stream.abort.abort();
    await Promise.all(open.map((stream) => stream.ended));
  });
});
