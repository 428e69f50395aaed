// The budget gate a running prompt passes before each model request, over a real database:
// the first request of an attempt waits while the minute's requests are taken (and stops with
// the prompt), later rounds are counted and go ahead, spent daily tokens refuse.
import { beforeEach, describe, expect, it } from 'vitest';
import { TenantLimits } from '../../src/engine/identity/tenant-limits.ts';
import { BudgetExhausted, BudgetGate } from '../../src/engine/prompt/budget-gate.ts';
import { useStoreFixture, type StoreFixture } from '../store/support.ts';

const fixtureOf = useStoreFixture();
let fixture: StoreFixture;
let gate: BudgetGate;

beforeEach(() => {
  fixture = fixtureOf();
  gate = new BudgetGate(new TenantLimits(fixture.stores.limitStore, { defaults: {}, cacheMs: 0, mcpServerOf: () => null }), fixture.stores.limitStore);
});

const ann = { tenantId: 'acme', subjectId: 'ann' };

/** Requests counted over every window (a minute may turn over during a case). */
async function requestsCounted(subject: string): Promise<number> {
  const { rows } = await fixture.sql.query<{ n: string }>(`select coalesce(sum(requests), 0) as n from rate_window where tenant_id = 'acme' and subject_id = $1`, [subject]);
  return Number(rows[0]!.n);
}

describe('BudgetGate', () => {
  it("holds a prompt's first request while the minute's requests are taken, until the prompt stops", async () => {
    await fixture.stores.limitStore.setPolicy('acme', { requestsPerMinute: 2 });
    const stop = new AbortController();
    await gate.beforeRequest(ann, true, stop.signal);
    await gate.beforeRequest(ann, true, stop.signal);
    let settled = false;
    const third = gate.beforeRequest(ann, true, stop.signal).finally(() => (settled = true));
    await new Promise((resolve) => setTimeout(resolve, 300));
    // Unless the minute turned over meanwhile, it is still waiting.
    const windows = await fixture.sql.query(`select 1 from rate_window where tenant_id = 'acme' and subject_id = ''`);
    if (windows.rowCount === 1) expect(settled).toBe(false);
    stop.abort(new Error('stopped'));
    await third.catch(() => undefined);
    expect(settled).toBe(true);
  });

  it('counts the later rounds of a turn without holding them back', async () => {
    await fixture.stores.limitStore.setPolicy('acme', { subject: { requestsPerMinute: 1 } });
    const signal = new AbortController().signal;
    await gate.beforeRequest(ann, true, signal);
    await gate.beforeRequest(ann, false, signal);
    await gate.beforeRequest(ann, false, signal);
    expect(await requestsCounted('ann')).toBe(3);
    expect(await requestsCounted('')).toBe(3);
  });

  it('refuses the first request once the daily tokens are spent, and counts nothing without a per-minute limit', async () => {
    await fixture.stores.limitStore.setPolicy('acme', { subject: { tokensPerDay: 10 } });
    const signal = new AbortController().signal;
    await gate.beforeRequest(ann, true, signal);
    await fixture.sql.query(
      `insert into usage_record (id, tenant_id, subject_id, conversation_id, message_id, reply_id, attempt, round, model,
         input_tokens, output_tokens, cache_creation_input_tokens, cache_read_input_tokens, web_search_requests, stop_reason, started_at, ended_at)
       values (gen_random_uuid(), 'acme', 'ann', gen_random_uuid(), gen_random_uuid(), gen_random_uuid(), 1, 0, 'm', 6, 4, 0, 0, 0, 'end_turn', now(), now())`,
    );
    await expect(gate.beforeRequest(ann, true, signal)).rejects.toBeInstanceOf(BudgetExhausted);
    // A turn that has started goes on.
    await gate.beforeRequest(ann, false, signal);
    // Another subject has its own tokens.
    await gate.beforeRequest({ tenantId: 'acme', subjectId: 'bob' }, true, signal);
    expect(await requestsCounted('')).toBe(0);
  });
});
