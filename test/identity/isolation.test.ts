// Tenant isolation on every RPC, over every client: tenant B acting on tenant A's conversation
// gets not_found (never permission_denied) and changes nothing. The suite iterates the service
// descriptor, so a new RPC without an isolation case fails it.
import type { JsonObject } from '@bufbuild/protobuf';
import { Code } from '@connectrpc/connect';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConversationService } from '../../gen/parley/v1/conversation_service_pb.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { CLIENT_KINDS, createRpcClient, type RpcClient } from '../support/clients.ts';
import { conversationApi } from '../support/conversation.ts';
import type { Claim } from '../../src/domain/records.ts';

let server: TestApp;
let keys: { a: string; b: string };

beforeAll(async () => {
  // No prompt runs: messages stay where the cases put them.
  server = await startTestApp({ PARLEY_MAX_CONCURRENT_PROMPTS: '0', PARLEY_AUTH_CACHE_MS: '0' });
  keys = { a: (await server.app.stores.apiKeys.create('tenant-a')).key, b: (await server.app.stores.apiKeys.create('tenant-b')).key };
});

afterAll(async () => {
  await server?.close();
});

interface Tenants {
  a: RpcClient;
  b: RpcClient;
}

function expectNotFound(result: { ok: boolean; code?: Code }): void {
  expect(result.ok).toBe(false);
  expect(result.ok === false && result.code).toBe(Code.NotFound);
}

async function conversationState(client: RpcClient, conversationId: string): Promise<JsonObject> {
  const result = await client.unary('GetConversation', { conversationId });
  if (!result.ok) throw new Error(`GetConversation failed: ${result.message}`);
  return result.response as JsonObject;
}

/** A's own message, claimed and waiting for a client tool (set up below the engine, as an instance would). */
const claims = new Map<string, { claim: Claim; replyId: string }>();

async function awaitingToolCall(a: RpcClient): Promise<{ conversationId: string; toolUseId: string }> {
  const api = conversationApi(a);
  const conversationId = await api.create();
  await api.send(conversationId, 'call the tool');
  const { queue, replies, clientCalls } = server.app.stores;
  for (;;) {
    const result = await queue.claimNext(60_000);
    if (result.kind !== 'claimed') throw new Error('the message was not claimable');
    if (result.claim.conversationId !== conversationId) {
      // Another case's message: end it so that it does not stand in the way.
      await replies.finish(result.claim, null, { status: 'completed', error: null, stopReason: 'end_turn', usage: null });
      continue;
    }
    const reply = (await replies.startReply(result.claim, 'claude-test'))!;
    claims.set(conversationId, { claim: result.claim, replyId: reply.id });
    const toolUseId = `toolu_${reply.id.replaceAll('-', '')}`;
    await clientCalls.open(result.claim, reply.id, [{ id: toolUseId, name: 'lookup', input: {} }], 60_000);
    return { conversationId, toolUseId };
  }
}

/** Usage of A's: a model request as a reply write records it (set up below the engine). */
async function usageOf(a: RpcClient): Promise<void> {
  const { conversationId } = await awaitingToolCall(a);
  const { replies } = server.app.stores;
  const claim = claims.get(conversationId)!;
  const now = new Date();
  await replies.writeBlocks(claim.claim, claim.replyId, [], [], [
    {
      tenantId: 'tenant-a',
      subjectId: null,
      conversationId,
      messageId: claim.claim.messageId,
      replyId: claim.replyId,
      attempt: claim.claim.attempt,
      round: 0,
      model: 'claude-test',
      usage: { inputTokens: 10, outputTokens: 5, cacheCreationInputTokens: 0, cacheReadInputTokens: 0 },
      webSearchRequests: 0,
      stopReason: 'end_turn',
      startedAt: now,
      endedAt: now,
    },
  ]);
}

function requestsIn(result: Awaited<ReturnType<RpcClient['unary']>>): number {
  if (!result.ok) throw new Error(`GetUsage failed: ${result.message}`);
  const totals = ((result.response as JsonObject).totals ?? []) as Array<{ modelRequests?: string }>;
  return totals.reduce((n, t) => n + Number(t.modelRequests ?? 0), 0);
}

const cases: Record<string, (tenants: Tenants) => Promise<void>> = {
  async CreateConversation({ a, b }) {
    const mine = await conversationApi(b).create({}, 'b-owned');
    expectNotFound(await a.unary('GetConversation', { conversationId: mine }));
  },
  async GetConversation({ a, b }) {
    const id = await conversationApi(a).create();
    expectNotFound(await b.unary('GetConversation', { conversationId: id }));
  },
  async ListConversations({ a, b }) {
    const id = await conversationApi(a).create();
    const listed = await b.unary('ListConversations', { pageSize: 100 });
    expect(listed.ok).toBe(true);
    const ids = ((listed.ok && (listed.response as JsonObject).conversations) || []) as Array<{ id: string }>;
    expect(ids.map((c) => c.id)).not.toContain(id);
    // A page token is the principal's own: A's does not page B through A's conversations.
    await conversationApi(a).create();
    const page = await a.unary('ListConversations', { pageSize: 1 });
    const token = (page.ok && ((page.response as JsonObject).nextPageToken as string)) || '';
    expect(token).not.toBe('');
    const borrowed = await b.unary('ListConversations', { pageToken: token });
    expect(borrowed.ok === false && borrowed.code).toBe(Code.InvalidArgument);
  },
  async UpdateConversation({ a, b }) {
    const id = await conversationApi(a).create({}, 'original');
    const before = await conversationState(a, id);
    expectNotFound(await b.unary('UpdateConversation', { conversationId: id, title: 'taken over' }));
    expect(await conversationState(a, id)).toEqual(before);
  },
  async DeleteConversation({ a, b }) {
    const id = await conversationApi(a).create();
    expectNotFound(await b.unary('DeleteConversation', { conversationId: id }));
    expect((await a.unary('GetConversation', { conversationId: id })).ok).toBe(true);
  },
  async SendMessage({ a, b }) {
    const id = await conversationApi(a).create();
    const before = await conversationState(a, id);
    expectNotFound(await b.unary('SendMessage', { conversationId: id, text: 'from b' }));
    expect(await conversationState(a, id)).toEqual(before);
  },
  async Subscribe({ a, b }) {
    const id = await conversationApi(a).create();
    const stream = await b.stream('Subscribe', { conversationId: id }, { timeoutMs: 5_000 });
    expect(stream.responses).toEqual([]);
    expect(stream.error?.code).toBe(Code.NotFound);
  },
  async CancelPrompt({ a, b }) {
    const id = await conversationApi(a).create();
    const message = await conversationApi(a).send(id, 'stay queued');
    expectNotFound(await b.unary('CancelPrompt', { conversationId: id, messageId: message.id }));
    const [stored] = await conversationApi(a).messages(id);
    expect(stored?.status).toBe('MESSAGE_STATUS_QUEUED');
  },
  async RetryMessage({ a, b }) {
    const id = await conversationApi(a).create();
    const message = await conversationApi(a).send(id, 'cancel me');
    expect((await a.unary('CancelPrompt', { conversationId: id, messageId: message.id })).ok).toBe(true);
    expectNotFound(await b.unary('RetryMessage', { conversationId: id, messageId: message.id }));
    const [stored] = await conversationApi(a).messages(id);
    expect(stored?.status).toBe('MESSAGE_STATUS_CANCELLED');
  },
  async ForkConversation({ a, b }) {
    const id = await conversationApi(a).create();
    const message = await conversationApi(a).send(id, 'cancel me');
    expect((await a.unary('CancelPrompt', { conversationId: id, messageId: message.id })).ok).toBe(true);
    const count = async () => {
      const listed = await b.unary('ListConversations', { pageSize: 1000 });
      return listed.ok ? (((listed.response as JsonObject).conversations as JsonObject[] | undefined) ?? []).length : -1;
    };
    const before = await count();
    expectNotFound(await b.unary('ForkConversation', { conversationId: id, messageId: message.id, text: 'from b' }));
    expect(await count()).toBe(before);
  },
  async GetUsage({ a, b }) {
    const before = requestsIn(await a.unary('GetUsage', {}));
    await usageOf(a);
    expect(requestsIn(await a.unary('GetUsage', {}))).toBe(before + 1);
    expect(requestsIn(await b.unary('GetUsage', {}))).toBe(0);
  },
  async SubmitToolResult({ a, b }) {
    const { conversationId, toolUseId } = await awaitingToolCall(a);
    expectNotFound(await b.unary('SubmitToolResult', { conversationId, toolUseId, content: 'from b' }));
    // Still open for its own tenant: B's answer went nowhere.
    expect((await a.unary('SubmitToolResult', { conversationId, toolUseId, content: 'from a' })).ok).toBe(true);
  },
};

describe('every RPC of the service has an isolation case', () => {
  for (const method of ConversationService.methods) {
    it(method.name, () => {
      expect(cases[method.name], `no isolation case for ${method.name}`).toBeTypeOf('function');
    });
  }
});

for (const kind of CLIENT_KINDS) {
  describe(`tenant isolation over ${kind}`, () => {
    let tenants: Tenants;
    beforeAll(() => {
      tenants = { a: createRpcClient(kind, server.baseUrl, { token: keys.a }), b: createRpcClient(kind, server.baseUrl, { token: keys.b }) };
    });
    afterAll(() => {
      tenants?.a.close();
      tenants?.b.close();
    });
    for (const method of ConversationService.methods) {
      it(`${method.name}: another tenant's conversation does not exist`, () => cases[method.name]!(tenants));
    }
  });
}
