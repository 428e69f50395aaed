// Budgets and limits end to end, over every client: a tenant over its daily tokens is refused
// with resource_exhausted and a RetryInfo before any model request; prompts running at once
// and model requests per minute are counted across the tenant and each subject; a turn that
// has started is never cut off; settings outside the tenant's policy are permission_denied;
// the conversation count is capped. Nothing refused is written.
import type { JsonObject } from '@bufbuild/protobuf';
import { Code } from '@connectrpc/connect';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnthropicEmulator, textTurn, toolUseTurn } from '../../src/emulator/index.ts';
import type { TenantPolicy } from '../../src/domain/tenant-policy.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { CLIENT_KINDS, createRpcClient, type CallResult, type RpcClient } from '../support/clients.ts';
import { conversationApi } from '../support/conversation.ts';

let emulator: AnthropicEmulator;
let server: TestApp;
let sql: pg.Pool;
const open: RpcClient[] = [];

beforeAll(async () => {
  emulator = new AnthropicEmulator();
  server = await startTestApp({ ANTHROPIC_API_KEY: 'test-key', ANTHROPIC_BASE_URL: await emulator.start(), PARLEY_AUTH_CACHE_MS: '50' });
  sql = new pg.Pool({ connectionString: server.databaseUrl, max: 2 });
});

afterAll(async () => {
  for (const client of open) client.close();
  await sql?.end();
  await server?.close();
  await emulator?.close();
});

/** A tenant with a key and this policy, and a client of each kind acting for it (or one subject). */
async function tenant(name: string, policy: TenantPolicy, subject?: string) {
  const { key } = await server.app.stores.apiKeys.create(name);
  await server.app.stores.limitStore.setPolicy(name, policy);
  const clients = CLIENT_KINDS.map((kind) => createRpcClient(kind, server.baseUrl, { token: key, ...(subject ? { headers: { 'parley-subject': subject } } : {}) }));
  open.push(...clients);
  const grpc = clients[0]!;
  return { key, clients, grpc, api: conversationApi(grpc) };
}

function refused(result: CallResult): { code: Code; message: string; retryDelayMs?: number } {
  if (result.ok) throw new Error('expected the call to be refused');
  return result;
}

/** Messages stored in the conversation, read below the API: what a refused call must not add to. */
async function directCount(conversationId: string): Promise<number> {
  const { rows } = await sql.query<{ count: string }>('select count(*) from message where conversation_id = $1', [conversationId]);
  return Number(rows[0]!.count);
}

describe('budgets', () => {
  it("refuse a tenant over its daily tokens with resource_exhausted and a retry delay, before any model request, on every client", async () => {
    const { clients, api } = await tenant('spender', { tokensPerDay: 1 });
    const id = await api.create();
    emulator.enqueue(textTurn('This answer spends the whole budget.'));
    await api.send(id, 'spend it');
    expect((await api.settled(id)).at(-1)?.status).toBe('MESSAGE_STATUS_COMPLETED');
    const requestsBefore = emulator.requests.length;
    const countBefore = await directCount(id);
    const untilMidnight = (() => {
      const now = new Date();
      return Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1) - now.getTime();
    })();
    for (const client of clients) {
      const result = refused(await client.unary('SendMessage', { conversationId: id, text: 'once more' }));
      expect([client.name, result.code]).toEqual([client.name, Code.ResourceExhausted]);
      expect(result.message).toMatch(/this tenant has used its 1 tokens for today \(UTC\); retry in \d+ s/);
      expect(result.retryDelayMs, client.name).toBeGreaterThan(untilMidnight - 120_000);
      expect(result.retryDelayMs, client.name).toBeLessThanOrEqual(untilMidnight + 1_000);
    }
    expect(emulator.requests.length).toBe(requestsBefore);
    expect(await directCount(id)).toBe(countBefore);
  });

  it('fail a message queued before the tokens ran out at its first model request, as budget_exhausted', async () => {
    const { api } = await tenant('queued-spender', { tokensPerDay: 1 });
    const id = await api.create();
    emulator.enqueue(textTurn('The first answer, slowly enough for the second send to be admitted.', { tokensPerSecond: 40 }));
    const requestsBefore = emulator.requests.length;
    await api.send(id, 'first');
    await api.send(id, 'second, admitted while the first one runs');
    const messages = await api.settled(id);
    const second = messages.filter((m) => m.role === 'ROLE_USER')[1]!;
    expect(second.status).toBe('MESSAGE_STATUS_FAILED');
    expect(second.error?.code).toBe('budget_exhausted');
    expect(emulator.requests.length - requestsBefore).toBe(1);
  });

  it('count prompts running at once over the tenant, exactly, and let a busy conversation queue more', async () => {
    const { grpc, api } = await tenant('busy', { runningPrompts: 2 });
    const ids = await Promise.all([api.create(), api.create(), api.create(), api.create()]);
    for (let i = 0; i < 4; i++) emulator.enqueue(textTurn('word '.repeat(200), { tokensPerSecond: 50 }));
    const results = await Promise.all(ids.map((conversationId) => grpc.unary('SendMessage', { conversationId, text: 'take your time' })));
    expect(results.filter((result) => result.ok)).toHaveLength(2);
    for (const result of results.filter((r) => !r.ok)) {
      const failure = refused(result);
      expect(failure.code).toBe(Code.ResourceExhausted);
      expect(failure.message).toContain('already has 2 conversations answering at once');
      expect(failure.retryDelayMs).toBe(1_000);
    }
    const busy = ids[results.findIndex((result) => result.ok)]!;
    expect((await grpc.unary('SendMessage', { conversationId: busy, text: 'and then this' })).ok).toBe(true);
    for (const [i, result] of results.entries()) {
      if (!result.ok) expect(await directCount(ids[i]!)).toBe(0);
      if (result.ok) await grpc.unary('CancelPrompt', { conversationId: ids[i]!, messageId: (result.response as { message: { id: string } }).message.id });
    }
  });

  it('count model requests per minute for each subject, and never cut off a turn that has started', async () => {
    // The windows are calendar minutes: a turn that ends just after one starts would find it empty.
    const seconds = new Date().getUTCSeconds();
    if (seconds > 40) await new Promise((resolve) => setTimeout(resolve, (61 - seconds) * 1000));
    const ann = await tenant('paced', { subject: { requestsPerMinute: 1 } }, 'ann');
    const id = await ann.api.create({ enabledTools: ['current_time'] });
    emulator.enqueue(toolUseTurn('current_time', {}), toolUseTurn('current_time', {}), textTurn('Three requests, one turn.'));
    await ann.api.send(id, 'what time is it, twice?');
    const messages = await ann.api.settled(id);
    expect(messages.at(-1)).toMatchObject({ role: 'ROLE_ASSISTANT', status: 'MESSAGE_STATUS_COMPLETED' });
    const again = refused(await ann.grpc.unary('SendMessage', { conversationId: id, text: 'once more' }));
    expect(again.code).toBe(Code.ResourceExhausted);
    expect(again.message).toContain("this conversation's subject has made its 1 model requests for this minute");
    expect(again.retryDelayMs).toBeGreaterThan(0);
    expect(again.retryDelayMs).toBeLessThanOrEqual(60_000);
    // Another subject of the tenant has its own minute.
    const bob = createRpcClient('grpc-js', server.baseUrl, { token: ann.key, headers: { 'parley-subject': 'bob' } });
    open.push(bob);
    const bobs = await conversationApi(bob).create();
    emulator.enqueue(textTurn('Bob is not held back.'));
    expect((await bob.unary('SendMessage', { conversationId: bobs, text: 'hi' })).ok).toBe(true);
    await conversationApi(bob).settled(bobs);
  }, 60_000);
});

describe('tenant limits on settings', () => {
  it('refuse models, max_tokens, thinking budgets outside the policy as permission_denied, on every client, writing nothing', async () => {
    const { clients, api } = await tenant('narrow', { models: ['claude-allowed'], maxTokens: 4000, thinkingBudgetTokens: 0 });
    const cases: Array<[JsonObject, RegExp]> = [
      [{ model: 'claude-other' }, /model "claude-other" is not allowed for this tenant; it may use "claude-allowed"/],
      [{ model: 'claude-allowed', maxTokens: 5000 }, /max_tokens 5000 is more than this tenant may set \(4000\)/],
      [{ model: 'claude-allowed', maxTokens: 2000, thinkingBudgetTokens: 1024 }, /extended thinking is not allowed for this tenant/],
    ];
    for (const client of clients) {
      for (const [settings, message] of cases) {
        const result = refused(await client.unary('CreateConversation', { title: 'no', settings: settings as JsonObject }));
        expect([client.name, result.code]).toEqual([client.name, Code.PermissionDenied]);
        expect(result.message).toMatch(message);
      }
    }
    const listed = await clients[0]!.unary('ListConversations', {});
    expect(listed.ok && (listed.response as { conversations?: unknown[] }).conversations).toBeUndefined();
    const id = await api.create({ model: 'claude-allowed', maxTokens: 4000 });
    const update = refused(await clients[1]!.unary('UpdateConversation', { conversationId: id, settings: { model: 'claude-other', maxTokens: 4000 } }));
    expect(update.code).toBe(Code.PermissionDenied);
    // A policy changed after the conversation was made applies to its next send.
    await server.app.stores.limitStore.setPolicy('narrow', { models: ['claude-newer'] });
    await new Promise((resolve) => setTimeout(resolve, 100)); // past PARLEY_AUTH_CACHE_MS
    const send = refused(await clients[2]!.unary('SendMessage', { conversationId: id, text: 'hi' }));
    expect(send.code).toBe(Code.PermissionDenied);
    expect(await directCount(id)).toBe(0);
  });

  it('cap the conversations a tenant holds, exactly under concurrent creates', async () => {
    const { grpc, clients } = await tenant('few', { conversations: 3 });
    const results = await Promise.all(clients.flatMap((client) => [client.unary('CreateConversation', { title: 'one' }), client.unary('CreateConversation', { title: 'two' })]));
    expect(results.filter((result) => result.ok)).toHaveLength(3);
    for (const result of results.filter((r) => !r.ok)) {
      expect(refused(result)).toMatchObject({ code: Code.ResourceExhausted, message: expect.stringContaining('already holds 3 conversations') });
      expect(refused(result).retryDelayMs).toBeUndefined();
    }
    const listed = await grpc.unary('ListConversations', {});
    expect(listed.ok && (listed.response as { conversations: unknown[] }).conversations).toHaveLength(3);
    // Deleting one makes room.
    const first = (listed.ok && (listed.response as { conversations: Array<{ id: string }> }).conversations[0]!.id) || '';
    expect((await grpc.unary('DeleteConversation', { conversationId: first })).ok).toBe(true);
    expect((await grpc.unary('CreateConversation', { title: 'room again' })).ok).toBe(true);
  });

  it('leave other tenants alone: a tenant without a policy of its own has none', async () => {
    const { api } = await tenant('free', {});
    const id = await api.create({ model: 'claude-anything', maxTokens: 64_000 });
    emulator.enqueue(textTurn('Free to answer.'));
    await api.send(id, 'hi');
    expect((await api.settled(id)).at(-1)?.status).toBe('MESSAGE_STATUS_COMPLETED');
  });
});

describe('the keys command', () => {
  const run = promisify(execFile);
  const keys = async (...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> => {
    const cli = path.resolve(import.meta.dirname, '../../src/cli/keys.ts');
    try {
      const { stdout, stderr } = await run(process.execPath, [cli, ...args], { env: { ...process.env, DATABASE_URL: server.databaseUrl, PARLEY_TENANT_LIMITS: '{"conversations": 100}' } });
      return { stdout, stderr, code: 0 };
    } catch (error) {
      const failed = error as { stdout: string; stderr: string; code: number };
      return failed;
    }
  };

  it('sets, shows, changes and resets limits, refusing bad values with nothing changed', async () => {
    const set = await keys('limits', '--tenant', 'cli-tenant', '--tokens-per-day', '5000', '--models', 'claude-a,claude-b', '--subject-running-prompts', '2');
    expect(set.code).toBe(0);
    expect(set.stdout).toContain('tokens-per-day: 5000');
    expect(set.stdout).toContain('models: claude-a,claude-b');
    // The effective limits include the configured default.
    expect(set.stdout).toMatch(/In effect[^]*conversations: 100/);
    expect(await server.app.stores.limitStore.policy('cli-tenant')).toEqual({ tokensPerDay: 5000, models: ['claude-a', 'claude-b'], subject: { runningPrompts: 2 } });
    expect((await keys('limits', '--tenant', 'cli-tenant', '--tokens-per-day', 'none')).code).toBe(0);
    expect(await server.app.stores.limitStore.policy('cli-tenant')).toEqual({ models: ['claude-a', 'claude-b'], subject: { runningPrompts: 2 } });
    const bad = await keys('limits', '--tenant', 'cli-tenant', '--max-tokens', 'lots');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--max-tokens must be a whole number');
    expect((await keys('limits', '--tokens-per-day', '5')).code).toBe(2);
    expect(await server.app.stores.limitStore.policy('cli-tenant')).toEqual({ models: ['claude-a', 'claude-b'], subject: { runningPrompts: 2 } });
    expect((await keys('limits')).stdout).toContain('cli-tenant (set ');
    expect((await keys('limits', '--tenant', 'cli-tenant', '--reset')).code).toBe(0);
    expect(await server.app.stores.limitStore.policy('cli-tenant')).toBeNull();
    // Seven runs of a command that starts Node and checks the migrations: slow on a busy machine.
  }, 180_000);
});
