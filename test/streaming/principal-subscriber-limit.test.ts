// PARLEY_MAX_SUBSCRIBERS_PER_PRINCIPAL: the Subscribe streams one principal (a tenant's key, or
// one subject of it) holds on an instance are capped, so that one caller cannot take the
// instance's streams from the others; one more gets resource_exhausted naming the limit, while
// another tenant and another subject of the same tenant still subscribe; a closed stream frees
// its slot.
import { Code, ConnectError, createClient, type Interceptor } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConversationService } from '../../gen/parley/v1/conversation_service_pb.ts';
import { startTestApp, type TestApp } from '../support/app.ts';

const LIMIT = 2;
let server: TestApp;
let keyA = '';
let keyB = '';

beforeAll(async () => {
  server = await startTestApp({ PARLEY_MAX_SUBSCRIBERS_PER_PRINCIPAL: String(LIMIT), PARLEY_HEARTBEAT_MS: '200', PARLEY_AUTH_CACHE_MS: '0' });
  keyA = (await server.app.stores.apiKeys.create('tenant-a')).key;
  keyB = (await server.app.stores.apiKeys.create('tenant-b')).key;
});

afterAll(async () => {
  await server?.close();
});

function clientOf(key: string, subject?: string) {
  const headers: Interceptor = (next) => (request) => {
    request.header.set('authorization', `Bearer ${key}`);
    if (subject) request.header.set('parley-subject', subject);
    return next(request);
  };
  return createClient(ConversationService, createGrpcTransport({ baseUrl: server.baseUrl, interceptors: [headers] }));
}

/** Opens a stream; resolves once its snapshot arrived (or with its error). */
async function subscribe(client: ReturnType<typeof clientOf>, conversationId: string) {
  const abort = new AbortController();
  const { promise: first, resolve } = Promise.withResolvers<ConnectError | null>();
  const ended = (async () => {
    try {
      for await (const response of client.subscribe({ conversationId }, { signal: abort.signal })) if (response.event.case === 'snapshot') resolve(null);
    } catch (error) {
      const failure = ConnectError.from(error);
      resolve(failure);
      return failure;
    }
    return null;
  })();
  return { error: await first, stop: () => abort.abort(), ended };
}

describe('subscriptions per principal', () => {
  it('are capped for one principal on the instance, leaving room for other tenants and subjects', async () => {
    const a = clientOf(keyA);
    const ids = await Promise.all(Array.from({ length: LIMIT + 1 }, async (_, i) => (await a.createConversation({ title: `a${i}` })).conversation!.id));
    const held = [];
    for (const id of ids.slice(0, LIMIT)) held.push(await subscribe(a, id));
    expect(held.map((s) => s.error)).toEqual([null, null]);

    const refused = await subscribe(a, ids[LIMIT]!);
    expect(refused.error?.code).toBe(Code.ResourceExhausted);
    expect(refused.error?.rawMessage).toContain(`this caller already has ${LIMIT} open subscriptions on this instance`);

    // A subject of the same tenant is a principal of its own, and so is another tenant.
    const ann = clientOf(keyA, 'ann');
    const annsConversation = (await ann.createConversation({ title: 'ann' })).conversation!.id;
    const annStream = await subscribe(ann, annsConversation);
    expect(annStream.error).toBeNull();
    const b = clientOf(keyB);
    const bStream = await subscribe(b, (await b.createConversation({ title: 'b' })).conversation!.id);
    expect(bStream.error).toBeNull();

    // A closed stream frees its slot.
    held[0]!.stop();
    await held[0]!.ended;
    for (let waited = 0; server.app.hub.subscribersFor('tenant-a') >= LIMIT && waited < 5_000; waited += 20) await new Promise((resolve) => setTimeout(resolve, 20));
    const again = await subscribe(a, ids[LIMIT]!);
    expect(again.error).toBeNull();
    for (const stream of [...held.slice(1), annStream, bStream, again]) stream.stop();
    await Promise.all([...held, annStream, bStream, again].map((stream) => stream.ended));
    for (let waited = 0; server.app.hub.subscriberCount > 0 && waited < 5_000; waited += 20) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(server.app.hub.subscriberCount).toBe(0);
  });
});
