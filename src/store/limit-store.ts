import type { BudgetRefusal, UsageReading } from '../domain/budget.ts';
import { msUntilNextMinute, sendRefusal } from '../domain/budget.ts';
import { hasBudgets, parsePolicy, type TenantPolicy } from '../domain/tenant-policy.ts';
import type { Database, Sql } from './database.ts';

/** The subject id of a rate window that counts the whole tenant. */
const WHOLE_TENANT = '';
/** Rate windows older than this are deleted (they only ever decide the current minute). */
const KEEP_WINDOWS = "interval '10 minutes'";
const PRUNE_EVERY_MS = 60_000;

const TOKENS = 'input_tokens + output_tokens + cache_creation_input_tokens + cache_read_input_tokens';
const TODAY = "date_trunc('day', now() at time zone 'UTC') at time zone 'UTC'";
const THIS_MINUTE = "date_trunc('minute', now())";

export interface StoredPolicy {
  tenantId: string;
  policy: TenantPolicy;
  updatedAt: Date;
}

interface ReadingRow {
  now: Date;
  tenant_tokens: string;
  subject_tokens: string;
  tenant_requests: string;
  subject_requests: string;
  tenant_running: string | null;
  subject_running: string | null;
  active: boolean | null;
}

/**
 * What the budgets are checked against, shared by every instance: the usage ledger (tokens),
 * per-minute request counts (rate_window) and active messages (running prompts); and the
 * tenants' policies as the keys command stores them.
 */
export class LimitStore {
  readonly #db: Database;
  #prunedAt = 0;

  constructor(db: Database) {
    this.#db = db;
  }

  /** The stored policy of a tenant, or null when it has none (the configured one applies). */
  async policy(tenantId: string): Promise<TenantPolicy | null> {
    const [row] = await this.#db.query<{ policy: unknown }>('select policy from tenant_policy where tenant_id = $1', [tenantId]);
    return row ? checked(row.policy, tenantId) : null;
  }

  async policies(): Promise<StoredPolicy[]> {
    const rows = await this.#db.query<{ tenant_id: string; policy: unknown; updated_at: Date }>('select * from tenant_policy order by tenant_id');
    return rows.map((row) => ({ tenantId: row.tenant_id, policy: checked(row.policy, row.tenant_id), updatedAt: new Date(row.updated_at) }));
  }

  /** Replaces the tenant's stored policy; an empty one removes it. */
  async setPolicy(tenantId: string, policy: TenantPolicy): Promise<void> {
    if (Object.keys(policy).length === 0) {
      await this.#db.query('delete from tenant_policy where tenant_id = $1', [tenantId]);
      return;
    }
    await this.#db.query(
      `insert into tenant_policy (tenant_id, policy, updated_at) values ($1, $2, now())
       on conflict (tenant_id) do update set policy = excluded.policy, updated_at = excluded.updated_at`,
      [tenantId, JSON.stringify(policy)],
    );
  }

  /** Tokens used today and requests this minute (no running prompts: they need a lock, see readBudgetUsage). */
  read(tenantId: string, subjectId: string | null): Promise<UsageReading> {
    return readBudgetUsage(this.#db, { tenantId, subjectId, conversationId: null });
  }

  /**
   * Counts one model request in this minute's windows of the tenant and the subject. With
   * `limits`, only when both stay within theirs: else nothing is counted, and the answer says
   * how long until the next window. Row locks on the windows make the count exact across
   * instances.
   */
  async takeRequest(
    tenantId: string,
    subjectId: string | null,
    limits: { tenant?: number | undefined; subject?: number | undefined } | null,
  ): Promise<{ taken: true } | { taken: false; retryAfterMs: number }> {
    this.#pruneNowAndThen();
    const subjects = subjectId === null ? [WHOLE_TENANT] : [WHOLE_TENANT, subjectId];
    const count = (sql: Sql) =>
      sql.query<{ subject_id: string; requests: number; now: Date }>(
        `insert into rate_window (tenant_id, subject_id, window_start, requests)
         select $1, subject, ${THIS_MINUTE}, 1 from unnest($2::text[]) as subject
         on conflict (tenant_id, subject_id, window_start) do update set requests = rate_window.requests + 1
         returning subject_id, requests, now() as now`,
        [tenantId, subjects],
      );
    if (limits === null) {
      await count(this.#db);
      return { taken: true };
    }
    const over = new OverLimit();
    try {
      return await this.#db.transaction(async (tx) => {
        const rows = await count(tx);
        for (const row of rows) {
          const limit = row.subject_id === WHOLE_TENANT ? limits.tenant : limits.subject;
          if (limit !== undefined && row.requests > limit) {
            over.now = new Date(row.now);
            throw over; // rolls the counts back
          }
        }
        return { taken: true as const };
      });
    } catch (error) {
      if (error !== over) throw error;
      return { taken: false, retryAfterMs: msUntilNextMinute(over.now) };
    }
  }

  #pruneNowAndThen(): void {
    if (Date.now() - this.#prunedAt < PRUNE_EVERY_MS) return;
    this.#prunedAt = Date.now();
    // Best effort: a failed prune is tried again a minute later.
    this.#db.query(`delete from rate_window where window_start < now() - ${KEEP_WINDOWS}`).catch(() => undefined);
  }
}

class OverLimit {
  now = new Date();
}

/**
 * What the tenant, and the subject, have used in the current windows. With a conversation id
 * it also counts running prompts (conversations with a user message queued or running) and says
 * whether that conversation is one of them: called in a transaction holding `lockRunning`, so
 * that two sends cannot both take the last one.
 */
async function readBudgetUsage(
  sql: Sql,
  scope: { tenantId: string; subjectId: string | null; conversationId: string | null },
): Promise<UsageReading> {
  const running =
    scope.conversationId === null
      ? 'null as tenant_running, null as subject_running, null as active'
      : `running.tenant_running, running.subject_running, running.active`;
  const [row] = await sql.query<ReadingRow>(
    `with running as (
       select count(distinct m.conversation_id) as tenant_running,
              count(distinct m.conversation_id) filter (where c.subject_id = $2) as subject_running,
              coalesce(bool_or(m.conversation_id = $3::uuid), false) as active
       from message m join conversation c on c.id = m.conversation_id
       where $3::uuid is not null and c.owner_id = $1 and m.role = 'user' and m.status in ('queued', 'processing'))
     select now() as now,
       (select coalesce(sum(${TOKENS}), 0) from usage_record where tenant_id = $1 and ended_at >= ${TODAY}) as tenant_tokens,
       (select coalesce(sum(${TOKENS}), 0) from usage_record where tenant_id = $1 and subject_id = $2 and ended_at >= ${TODAY}) as subject_tokens,
       (select coalesce(sum(requests), 0) from rate_window where tenant_id = $1 and subject_id = '' and window_start = ${THIS_MINUTE}) as tenant_requests,
       (select coalesce(sum(requests), 0) from rate_window where tenant_id = $1 and subject_id = $2 and window_start = ${THIS_MINUTE}) as subject_requests,
       ${running}
     from running`,
    [scope.tenantId, scope.subjectId, scope.conversationId],
  );
  const tenantRunning = Number(row!.tenant_running ?? 0);
  const subjectRunning = Number(row!.subject_running ?? 0);
  return {
    now: new Date(row!.now),
    tenant: { tokensToday: Number(row!.tenant_tokens), requestsThisMinute: Number(row!.tenant_requests), runningPrompts: tenantRunning },
    subject:
      scope.subjectId === null
        ? null
        : { tokensToday: Number(row!.subject_tokens), requestsThisMinute: Number(row!.subject_requests), runningPrompts: subjectRunning },
    conversationActive: row!.active === true,
  };
}

/**
 * The budget one more prompt of the conversation would pass, or null; within the caller's
 * transaction (which holds the conversation's row lock). Counting running prompts takes the
 * tenant's running lock first, so that of two concurrent sends only one takes the last one.
 */
export async function refuseOverBudget(
  tx: Sql,
  policy: TenantPolicy,
  scope: { tenantId: string; subjectId: string | null; conversationId: string },
): Promise<BudgetRefusal | null> {
  if (!hasBudgets(policy)) return null;
  if (policy.runningPrompts !== undefined || policy.subject?.runningPrompts !== undefined) await lockRunning(tx, scope.tenantId);
  return sendRefusal(policy, await readBudgetUsage(tx, scope));
}

/** Serialises, per tenant, the sends that count its running prompts (until the transaction ends). */
async function lockRunning(sql: Sql, tenantId: string): Promise<void> {
  await sql.query(`select pg_advisory_xact_lock(hashtextextended('parley.running:' || $1, 0))`, [tenantId]);
}

function checked(value: unknown, tenantId: string): TenantPolicy {
  const parsed = parsePolicy(value, `tenant_policy of ${tenantId}`);
  if ('problems' in parsed) throw new Error(parsed.problems.join('; '));
  return parsed.policy;
}
