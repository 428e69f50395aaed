// LimitStore and the budget reads against a real database: per-minute request windows stay
// exact under concurrency, usage is read from the ledger, running prompts are counted per
// tenant and subject, and policies round-trip.
import { DEFAULT_CONTEXT_POLICY } from '../../src/domain/context-policy.ts';
import { DEFAULT_THINKING } from '../../src/domain/model-thinking.ts';
import { ownerOf } from '../support/owner.ts';
import { beforeEach, describe, expect, it } from 'vitest';
import { useStoreFixture, type StoreFixture } from './support.ts';

const fixtureOf = useStoreFixture();
let fixture: StoreFixture;

beforeEach(() => {
  fixture = fixtureOf();
});

/** A conversation of `tenant` (and `subject`), created through the store as the engine does. */
async function conversationOf(tenant: string, subject: string | null = null): Promise<string> {
  const settings = { model: 'claude-test', systemPrompt: '', maxTokens: 1024, thinkingBudgetTokens: 0, enabledTools: [], clientTools: [], context: DEFAULT_CONTEXT_POLICY, thinking: DEFAULT_THINKING };
  return (await fixture.stores.conversations.create(ownerOf(tenant, subject), { title: 'limits', settings })).id;
}

async function ledgerRow(tenant: string, subject: string | null, tokens: number, endedAt = 'now()'): Promise<void> {
  await fixture.sql.query(
    `insert into usage_record (id, tenant_id, subject_id, conversation_id, message_id, reply_id, attempt, round, model,
       input_tokens, output_tokens, cache_creation_input_tokens, cache_read_input_tokens, web_search_requests, stop_reason, started_at, ended_at)
     values (gen_random_uuid(), $1, $2, gen_random_uuid(), gen_random_uuid(), gen_random_uuid(), 1, 0, 'claude-test',
       $3, 1, 0, 0, 0, 'end_turn', ${endedAt}, ${endedAt})`,
    [tenant, subject, tokens - 1],
  );
}

describe('LimitStore', () => {
  it('stores, lists and removes a tenant policy', async () => {
    const limits = fixture.stores.limitStore;
    expect(await limits.policy('acme')).toBeNull();
    await limits.setPolicy('acme', { tokensPerDay: 1000, subject: { requestsPerMinute: 5 }, models: ['claude-test'] });
    expect(await limits.policy('acme')).toEqual({ tokensPerDay: 1000, subject: { requestsPerMinute: 5 }, models: ['claude-test'] });
    await limits.setPolicy('acme', { conversations: 3 });
    expect((await limits.policies()).map((entry) => [entry.tenantId, entry.policy])).toEqual([['acme', { conversations: 3 }]]);
    await limits.setPolicy('acme', {});
    expect(await limits.policy('acme')).toBeNull();
  });

  it('takes exactly the limit of requests in a minute under concurrent takers, tenant and subject apart', async () => {
    const limits = fixture.stores.limitStore;
    // A window may turn over mid-test; then the counts split across two minutes, which the
    // totals below allow for by reading the rows.
    const results = await Promise.all(Array.from({ length: 12 }, () => limits.takeRequest('acme', 'ann', { tenant: 5 })));
    const taken = results.filter((result) => result.taken).length;
    const rows = (await fixture.sql.query<{ subject_id: string; requests: number }>(`select subject_id, requests from rate_window where tenant_id = 'acme'`)).rows;
    const windows = rows.filter((row) => row.subject_id === '').length;
    expect(taken).toBe(5 * windows);
    expect(rows.filter((row) => row.subject_id === '').reduce((sum, row) => sum + row.requests, 0)).toBe(taken);
    // Refused takes counted nothing for the subject either.
    expect(rows.filter((row) => row.subject_id === 'ann').reduce((sum, row) => sum + row.requests, 0)).toBe(taken);
    const refused = results.find((result) => !result.taken);
    expect(refused && !refused.taken && refused.retryAfterMs).toBeGreaterThan(0);
    expect(refused && !refused.taken && refused.retryAfterMs).toBeLessThanOrEqual(60_000);
    // The subject's own limit applies to it alone: another subject of the tenant is not held back by it.
    await fixture.sql.query('delete from rate_window');
    expect(await limits.takeRequest('acme', 'ann', { subject: 1 })).toEqual({ taken: true });
    expect(await limits.takeRequest('acme', 'ann', { subject: 1 })).toMatchObject({ taken: false });
    expect(await limits.takeRequest('acme', 'bob', { subject: 1 })).toEqual({ taken: true });
    // Unlimited takes always count.
    await limits.takeRequest('acme', null, null);
    const usage = await limits.read('acme', 'bob');
    expect(usage.tenant.requestsThisMinute).toBe(3);
    expect(usage.subject?.requestsThisMinute).toBe(1);
  });

  it("reads today's tokens from the ledger, for the tenant and for one subject", async () => {
    await ledgerRow('acme', 'ann', 100);
    await ledgerRow('acme', 'bob', 40);
    await ledgerRow('acme', null, 7);
    await ledgerRow('other', 'ann', 1000);
    await ledgerRow('acme', 'ann', 5000, "date_trunc('day', now() at time zone 'UTC') at time zone 'UTC' - interval '1 second'");
    const usage = await fixture.stores.limitStore.read('acme', 'ann');
    expect(usage.tenant.tokensToday).toBe(147);
    expect(usage.subject?.tokensToday).toBe(100);
    expect((await fixture.stores.limitStore.read('acme', null)).subject).toBeNull();
  });

  it('admits a send while running prompts stay within the tenant and subject budgets, exactly under concurrent sends', async () => {
    const send = (conversationId: string, budgets: Parameters<typeof fixture.stores.queue.enqueue>[2]['budgets']) =>
      fixture.stores.queue.enqueue(ownerOf('acme'), conversationId, { text: 'hi', requestId: null, maxQueued: 10, budgets });
    const conversations = await Promise.all(Array.from({ length: 6 }, (_, i) => conversationOf('acme', i < 3 ? 'ann' : 'bob')));
    const results = await Promise.all(conversations.map((id) => send(id, { runningPrompts: 4 })));
    expect(results.filter((result) => result.kind === 'queued')).toHaveLength(4);
    const refused = results.find((result) => result.kind === 'over_budget');
    expect(refused).toMatchObject({ refusal: { scope: 'tenant', budget: 'runningPrompts', limit: 4 } });
    // A conversation already answering adds no running prompt: it may queue more.
    const active = conversations[results.findIndex((result) => result.kind === 'queued')]!;
    expect(await send(active, { runningPrompts: 4 })).toMatchObject({ kind: 'queued' });
    // Each subject has its own count under the subject budget.
    const annIdle = conversations.slice(0, 3).find((_, i) => results[i]!.kind !== 'queued');
    const annRunning = results.slice(0, 3).filter((result) => result.kind === 'queued').length;
    if (annIdle) {
      expect(await send(annIdle, { subject: { runningPrompts: annRunning } })).toMatchObject({ kind: 'over_budget', refusal: { scope: 'subject' } });
      expect(await send(annIdle, { subject: { runningPrompts: annRunning + 1 } })).toMatchObject({ kind: 'queued' });
    }
    // Nothing refused was written.
    const rows = await fixture.sql.query<{ count: string }>(`select count(*) from message where role = 'user'`);
    expect(Number(rows.rows[0]!.count)).toBe(4 + 1 + (annIdle ? 1 : 0));
  });

  it("refuses a send once today's tokens are spent, with the time until midnight UTC", async () => {
    const conversation = await conversationOf('acme', 'ann');
    await ledgerRow('acme', 'ann', 100);
    const send = (budgets: Parameters<typeof fixture.stores.queue.enqueue>[2]['budgets']) =>
      fixture.stores.queue.enqueue(ownerOf('acme'), conversation, { text: 'hi', requestId: null, maxQueued: 10, budgets });
    expect(await send({ tokensPerDay: 101 })).toMatchObject({ kind: 'queued' });
    const refused = await send({ tokensPerDay: 100 });
    expect(refused).toMatchObject({ kind: 'over_budget', refusal: { scope: 'tenant', budget: 'tokensPerDay', limit: 100 } });
    const now = new Date();
    const untilMidnight = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1) - now.getTime();
    const retryAfterMs = refused.kind === 'over_budget' ? refused.refusal.retryAfterMs : -1;
    expect(Math.abs(retryAfterMs - untilMidnight)).toBeLessThan(60_000);
    expect(await send({ subject: { tokensPerDay: 100 } })).toMatchObject({ kind: 'over_budget', refusal: { scope: 'subject' } });
  });
});
