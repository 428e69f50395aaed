// Strict decoding: JSON with bytes that are not UTF-8 is invalid_argument and stores nothing (it
// used to be stored with the bad bytes replaced); ids are read in either case, as RFC 9562 says;
// a prompt starts no earlier than the previous one of its conversation ended.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../support/app.ts';
import { createRpcClient, type RpcClient } from '../support/clients.ts';
import { conversationApi } from '../support/conversation.ts';
import { ownerOf } from '../support/owner.ts';

let server: TestApp;
let client: RpcClient;

beforeAll(async () => {
  server = await startTestApp({ PARLEY_OFFLINE_TOKENS_PER_SECOND: '0' });
  client = createRpcClient('connect-node/connect', server.baseUrl);
});

afterAll(async () => {
  client?.close();
  await server?.close();
});

async function post(method: string, body: Uint8Array, contentType: string): Promise<{ status: number; text: string }> {
  const response = await fetch(`${server.baseUrl}/parley.v1.ConversationService/${method}`, { method: 'POST', headers: { 'content-type': contentType }, body });
  return { status: response.status, text: await response.text() };
}

describe('strict decoding', () => {
  it('refuses JSON that is not UTF-8 with invalid_argument, over Connect, gRPC-Web and gRPC, and stores nothing', async () => {
    const before = (await server.app.stores.conversations.list(ownerOf('default'), 100, null)).conversations.length;
    const bad = Buffer.concat([Buffer.from('{"title": "caf'), Buffer.from([0xe9]), Buffer.from('"}')]);
    const connect = await post('CreateConversation', bad, 'application/json');
    expect(connect.status).toBe(400);
    expect(JSON.parse(connect.text)).toMatchObject({ code: 'invalid_argument', message: expect.stringContaining('not valid UTF-8') });
    const framed = Buffer.concat([Buffer.from([0, 0, 0, 0, bad.length]), bad]);
    const grpcWeb = await fetch(`${server.baseUrl}/parley.v1.ConversationService/CreateConversation`, {
      method: 'POST',
      headers: { 'content-type': 'application/grpc-web+json' },
      body: framed,
    });
    const trailer = Buffer.from(await grpcWeb.arrayBuffer()).toString('latin1');
    expect(grpcWeb.headers.get('grpc-status') ?? trailer.match(/grpc-status:\s*(\d+)/)?.[1]).toBe('3');
    expect((await server.app.stores.conversations.list(ownerOf('default'), 100, null)).conversations.length).toBe(before);
    // The same text, well encoded, is taken as it is.
    const good = await post('CreateConversation', Buffer.from('{"title": "café"}'), 'application/json');
    expect(good.status).toBe(200);
    expect(JSON.parse(good.text).conversation.title).toBe('café');
  });

  it('answers a content type it does not speak in the protocol the caller tried, as unimplemented, and stores nothing', async () => {
    const before = (await server.app.stores.conversations.list(ownerOf('default'), 100, null)).conversations.length;
    for (const contentType of ['text/plain', 'application/xml', 'application/json; charset=latin1']) {
      const connect = await post('CreateConversation', Buffer.from('{"title": "x"}'), contentType);
      expect(connect.status, contentType).toBe(415);
      expect(JSON.parse(connect.text), contentType).toMatchObject({ code: 'unimplemented', message: expect.stringContaining('application/json') });
    }
    // A Connect client reads it as its code, not as unknown.
    const response = await fetch(`${server.baseUrl}/parley.v1.ConversationService/CreateConversation`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{}' });
    expect(response.headers.get('accept-post')).toContain('application/proto');
    await response.body?.cancel();
    for (const contentType of ['application/grpc+xml', 'application/grpc-web+xml']) {
      const grpc = await fetch(`${server.baseUrl}/parley.v1.ConversationService/CreateConversation`, { method: 'POST', headers: { 'content-type': contentType }, body: new Uint8Array(5) });
      expect([contentType, grpc.status, grpc.headers.get('grpc-status')]).toEqual([contentType, 200, '12']);
      expect(decodeURIComponent(grpc.headers.get('grpc-message') ?? '')).toContain('application/grpc');
      await grpc.body?.cancel();
    }
    expect((await server.app.stores.conversations.list(ownerOf('default'), 100, null)).conversations.length).toBe(before);
  });

  it('reads an id in upper case as the same id', async () => {
    const id = await conversationApi(client).create({}, 'case');
    const result = await client.unary('GetConversation', { conversationId: id.toUpperCase() });
    expect(result.ok).toBe(true);
    expect(result.ok && (result.response as { conversation: { id: string } }).conversation.id).toBe(id);
  });

  it('starts each prompt no earlier than the previous one of its conversation ended', async () => {
    const api = conversationApi(client);
    const id = await api.create();
    for (let i = 0; i < 5; i++) await api.send(id, `question ${i}`);
    const messages = (await api.settled(id)) as Array<{ role: string; startTime?: string; endTime?: string }>;
    const users = messages.filter((m) => m.role === 'ROLE_USER');
    expect(users).toHaveLength(5);
    for (let i = 1; i < users.length; i++) {
      expect(Date.parse(users[i]!.startTime!)).toBeGreaterThanOrEqual(Date.parse(users[i - 1]!.endTime!));
    }
  });
});
