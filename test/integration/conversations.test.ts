import { DEFAULT_CONTEXT_POLICY } from '../../src/domain/context-policy.ts';
import { DEFAULT_THINKING } from '../../src/domain/model-thinking.ts';
import { ownerOf } from '../support/owner.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../support/app.ts';
import { createRpcClient, type RpcClient } from '../support/clients.ts';
import type { ConversationSettings } from '../../src/domain/records.ts';

const settings: ConversationSettings = {
  model: 'claude-sonnet-5-5',
  systemPrompt: '',
  maxTokens: 1024,
  thinkingBudgetTokens: 0,
  enabledTools: [],
  clientTools: [],
  context: DEFAULT_CONTEXT_POLICY,
    thinking: DEFAULT_THINKING,
};

let server: TestApp;
let client: RpcClient;

beforeAll(async () => {
  server = await startTestApp();
  client = createRpcClient('connect-node/connect', server.baseUrl);
});

afterAll(async () => {
  client?.close();
  await server?.close();
});

describe('ListConversations', () => {
  it('walks every conversation exactly once while new ones are created between pages', async () => {
    const owner = ownerOf('pager');
    const existing: string[] = [];
    for (let i = 0; i < 7; i++) existing.push((await server.app.stores.conversations.create(owner, { title: `c${i}`, settings })).id);

    const seen: string[] = [];
    let after: string | null = null;
    do {
      const page = await server.app.stores.conversations.list(owner, 3, after);
      seen.push(...page.conversations.map((c) => c.id));
      // Someone creates a conversation while this client is paging.
      await server.app.stores.conversations.create(owner, { title: 'inserted', settings });
      after = page.nextAfterId;
    } while (after);

    expect(seen).toEqual([...existing].reverse());
  });

  it('keeps owners apart', async () => {
    const mine = await server.app.stores.conversations.create(ownerOf('alice'), { title: 'mine', settings });
    expect(await server.app.stores.conversations.get(ownerOf('bob'), mine.id)).toBeNull();
    expect((await server.app.stores.conversations.list(ownerOf('bob'), 10, null)).conversations).toEqual([]);
    expect(await server.app.stores.conversations.delete(ownerOf('bob'), mine.id)).toBe(false);
    expect(await server.app.stores.conversations.get(ownerOf('alice'), mine.id)).not.toBeNull();
  });
});

describe('the service keeps its data', () => {
  it('still has a conversation after the app restarts on the same database', async () => {
    const created = await client.unary('CreateConversation', { title: 'Survives restarts' });
    if (!created.ok) throw new Error(created.message);
    const id = (created.response as { conversation: { id: string } }).conversation.id;

    const second = await startTestApp({}, { databaseUrl: server.databaseUrl });
    const secondClient = createRpcClient('grpc-js', second.baseUrl);
    try {
      const fetched = await secondClient.unary('GetConversation', { conversationId: id });
      expect(fetched.ok && (fetched.response as { conversation: { title: string } }).conversation.title).toBe('Survives restarts');
    } finally {
      secondClient.close();
      await second.app.close();
    }
  });
});

describe('the port', () => {
  it('answers health checks and browser preflights for configured origins only', async () => {
    expect((await fetch(`${server.baseUrl}/healthz`)).status).toBe(200);
    expect((await fetch(`${server.baseUrl}/readyz`)).status).toBe(200);

    const browser = await startTestApp({ CORS_ORIGINS: 'https://app.example.com' });
    try {
      const preflight = (origin: string) =>
        fetch(`${browser.baseUrl}/parley.v1.ConversationService/ListConversations`, {
          method: 'OPTIONS',
          headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
        });
      const allowed = await preflight('https://app.example.com');
      expect(allowed.status).toBe(204);
      expect(allowed.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
      expect(allowed.headers.get('access-control-allow-headers')).toContain('Content-Type');
      const other = await preflight('https://evil.example.com');
      expect(other.headers.get('access-control-allow-origin')).toBeNull();
    } finally {
      await browser.close();
    }
  });
});
