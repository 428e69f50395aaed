import type { BudgetRefusal } from '../domain/budget.ts';
import type { TenantPolicy } from '../domain/tenant-policy.ts';
import { afterLeaseExpired, cancelEffect, canRetry, from, replySurvives } from '../domain/lifecycle.ts';
import { messageErrors } from '../domain/message-errors.ts';
import type { Claim, MessageRecord, MessageStatus, Owner } from '../domain/records.ts';
import { uuidv7 } from '../domain/ids.ts';
import { CANCEL_CHANNEL, QUEUE_CHANNEL } from './channels.ts';
import type { Database, Sql } from './database.ts';
import { OWNED_BY } from './conversation-store.ts';
import { appendEvents, notify } from './event-log.ts';
import { refuseOverBudget } from './limit-store.ts';
import { statusChanged, toMessage, type MessageRow } from './message-rows.ts';
import { AWAITS_CLIENT, failReplies } from './reply-store.ts';
import { readBlocks } from './streamed-blocks.ts';

export type EnqueueResult =
  | { kind: 'queued'; message: MessageRecord; created: boolean }
  | { kind: 'not_found' }
  | { kind: 'request_id_reused'; message: MessageRecord }
  | { kind: 'queue_full'; limit: number }
  /** A reply runs or messages wait, and the send asked to be refused then. */
  | { kind: 'busy'; waiting: number }
  | OverBudget;

export type TransitionResult =
  | { kind: 'ok'; message: MessageRecord }
  | { kind: 'not_found' }
  | { kind: 'wrong_status'; status: MessageStatus };

/** Nothing was written: one more prompt would pass a budget of the tenant or of the conversation's subject. */
export type OverBudget = { kind: 'over_budget'; refusal: BudgetRefusal };

/** `contended`: another instance activated the conversation in the same instant; try again. */
export type ClaimResult = { kind: 'claimed'; claim: Claim } | { kind: 'empty' } | { kind: 'contended' };

export interface LeaseState {
  messageId: string;
  /** False when the lease was lost (expired and taken over): stop at once, write nothing. */
  held: boolean;
  cancelRequested: boolean;
}

/**
 * The queue of user messages and the leases of the running ones. Claims lock the conversation
 * row with SKIP LOCKED and a partial unique index backs the one-active-prompt rule; every status
 * update is guarded by the statuses the lifecycle table lets it start from.
 */
export class QueueStore {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  /**
   * Stores a user message as queued and wakes the queue, in one transaction. With `budgets`
   * (the tenant's policy), only when one more prompt stays within them, counted in the same
   * transaction so that concurrent sends on any instance cannot all take the last one.
   */
  async enqueue(
    owner: Owner,
    conversationId: string,
    input: { text: string; requestId: string | null; maxQueued: number; budgets?: TenantPolicy | null; traceparent?: string | null; rejectIfBusy?: boolean },
  ): Promise<EnqueueResult> {
    return this.#db.transaction(async (tx) => {
      // Locking the conversation serialises sends into it: queue positions and the queue limit
      // stay exact under concurrent sends.
      const [conversation] = await tx.query<{ subject_id: string | null }>(
        `select subject_id from conversation where id = $1 and ${OWNED_BY('$2', '$3')} for update`,
        [conversationId, owner.tenantId, owner.subjectId],
      );
      if (!conversation) return { kind: 'not_found' };
      if (input.requestId !== null) {
        const [existing] = await tx.query<MessageRow>('select * from message where conversation_id = $1 and request_id = $2', [conversationId, input.requestId]);
        if (existing) {
          const message = toMessage(existing, (await readBlocks(tx, [existing.id])).get(existing.id) ?? []);
          const [only] = message.blocks;
          const sameText = message.blocks.length === 1 && only?.type === 'text' && only.text === input.text;
          return sameText ? { kind: 'queued', message, created: false } : { kind: 'request_id_reused', message };
        }
      }
      const [ahead] = await tx.query<{ count: string }>(
        `select count(*) from message where conversation_id = $1 and role = 'user' and status in ('queued', 'processing')`,
        [conversationId],
      );
      const position = Number(ahead?.count ?? 0);
      // Counted under the conversation's lock: no send on any instance can slip in between.
      if (input.rejectIfBusy && position > 0) return { kind: 'busy', waiting: position };
      if (position >= input.maxQueued) return { kind: 'queue_full', limit: input.maxQueued };
      const refusal = input.budgets && (await refuseOverBudget(tx, input.budgets, { tenantId: owner.tenantId, subjectId: conversation.subject_id, conversationId }));
      if (refusal) return { kind: 'over_budget', refusal };
      const id = uuidv7();
      const [row] = await tx.query<MessageRow>(
        `insert into message (id, conversation_id, role, status, queue_position, request_id, trace_context, created_at, updated_at)
         values ($1, $2, 'user', 'queued', $3, $4, $5, now(), now()) returning *`,
        [id, conversationId, position, input.requestId, input.traceparent ?? null],
      );
      const text = { type: 'text' as const, text: input.text };
      await tx.query('insert into block (message_id, position, content) values ($1, 0, $2)', [id, JSON.stringify(text)]);
      const message = toMessage(row!, [text]);
      await appendEvents(tx, conversationId, [{ type: 'message_queued', message }]);
      await notify(tx, QUEUE_CHANNEL, conversationId);
      return { kind: 'queued', message, created: true };
    });
  }

  /** Queues a failed or cancelled user message again (RetryMessage), within `budgets` as enqueue does. */
  async requeue(owner: Owner, conversationId: string, messageId: string, budgets: TenantPolicy | null = null, traceparent: string | null = null): Promise<TransitionResult | OverBudget> {
    return this.#db.transaction(async (tx) => {
      // The conversation row first, as a send takes it, then the tenant's running lock: taken
      // in the other order, a retry and a send into one conversation deadlocked.
      if (budgets) await tx.query(`select id from conversation where id = $1 and ${OWNED_BY('$2', '$3')} for update`, [conversationId, owner.tenantId, owner.subjectId]);
      const current = await lockUserMessage(tx, owner, conversationId, messageId);
      if (!current) return { kind: 'not_found' };
      if (!canRetry(current.status)) return { kind: 'wrong_status', status: current.status };
      const refusal = budgets && (await refuseOverBudget(tx, budgets, { tenantId: owner.tenantId, subjectId: current.subject_id, conversationId }));
      if (refusal) return { kind: 'over_budget', refusal };
      // The queue takes messages in id order, so a retried message keeps its place: it runs
      // before later messages still queued. See docs/engine.md.
      const [ahead] = await tx.query<{ count: string }>(
        `select count(*) from message where conversation_id = $1 and role = 'user' and id <> $2
           and (status = 'processing' or (status = 'queued' and id < $2))`,
        [conversationId, messageId],
      );
      const [row] = await tx.query<MessageRow>(
        `update message set status = 'queued', error = null, started_at = null, ended_at = null,
           cancel_requested = false, queue_position = $1, trace_context = $4, updated_at = now()
         where id = $2 and status = any($3) returning *`,
        [Number(ahead?.count ?? 0), messageId, from('user', 'retry', 'queued'), traceparent],
      );
      await appendEvents(tx, conversationId, [statusChanged(row!)]);
      await notify(tx, QUEUE_CHANNEL, conversationId);
      return { kind: 'ok', message: toMessage(row!, (await readBlocks(tx, [messageId])).get(messageId) ?? []) };
    });
  }

  /**
   * Cancels a user message: a queued one leaves the queue at once; a running one is flagged, and
   * the instance running it is told (NOTIFY) to stop: its prompt then ends as cancelled.
   */
  async cancel(owner: Owner, conversationId: string, messageId: string): Promise<TransitionResult> {
    return this.#db.transaction(async (tx) => {
      const current = await lockUserMessage(tx, owner, conversationId, messageId);
      if (!current) return { kind: 'not_found' };
      let row: MessageRow | undefined;
      switch (cancelEffect(current.status)) {
        case 'cancel_now':
          [row] = await tx.query<MessageRow>(
            `update message set status = 'cancelled', ended_at = now(), updated_at = now(), error = $1
             where id = $2 and status = any($3) returning *`,
            [JSON.stringify(messageErrors.cancelled()), messageId, from('user', 'cancel', 'cancelled')],
          );
          await appendEvents(tx, conversationId, [statusChanged(row!)]);
          break;
        case 'stop_running':
          // Not a visible change (no event, updated_at kept): the prompt's end is.
          [row] = await tx.query<MessageRow>('update message set cancel_requested = true where id = $1 returning *', [messageId]);
          await notify(tx, CANCEL_CHANNEL, messageId);
          break;
        case 'not_allowed':
          return { kind: 'wrong_status', status: current.status };
      }
      return { kind: 'ok', message: toMessage(row!, (await readBlocks(tx, [messageId])).get(messageId) ?? []) };
    });
  }

  /**
   * Claims the oldest queued user message of a conversation that has no active prompt. Safe
   * across instances: the conversation row is locked (skipping ones another claimer holds), and
   * the partial unique index refuses a second active prompt regardless. `instanceId` is kept on
   * the message: the instance that runs this attempt.
   */
  async claimNext(leaseMs: number, instanceId: string | null = null): Promise<ClaimResult> {
    try {
      return await this.#db.transaction(async (tx) => {
        const [candidate] = await tx.query<{ id: string; conversation_id: string; owner_id: string }>(
          `select m.id, m.conversation_id, c.owner_id
           from message m join conversation c on c.id = m.conversation_id
           where m.role = 'user' and m.status = 'queued'
             and not exists (select 1 from message p where p.conversation_id = m.conversation_id
                             and p.role = 'user' and p.status = 'processing')
             and not exists (select 1 from message o where o.conversation_id = m.conversation_id
                             and o.role = 'user' and o.status = 'queued' and o.id < m.id)
           order by m.id
           limit 1
           for update of c skip locked`,
        );
        if (!candidate) return { kind: 'empty' };
        // The status check runs again on the row's latest version: if another instance claimed
        // or cancelled it after our snapshot, nothing is updated and the caller tries again.
        const [claimed] = await tx.query<MessageRow>(
          // clock_timestamp(), not now(): now() is the transaction's start, which can fall before the
          // end of the previous prompt of the conversation, committed while this claim waited.
          `update message set status = 'processing', attempt = attempt + 1, started_at = clock_timestamp(), updated_at = clock_timestamp(),
             lease_expires_at = now() + ($1 * interval '1 millisecond'), instance_id = $4
           where id = $2 and status = any($3) returning *`,
          [leaseMs, candidate.id, from('user', 'claim', 'processing'), instanceId],
        );
        if (!claimed) return { kind: 'contended' };
        await appendEvents(tx, candidate.conversation_id, [statusChanged(claimed)]);
        const claim = { ownerId: candidate.owner_id, conversationId: candidate.conversation_id, messageId: candidate.id, attempt: claimed.attempt, traceparent: claimed.trace_context };
        return { kind: 'claimed', claim };
      });
    } catch (error) {
      if (isUniqueViolation(error)) return { kind: 'contended' };
      throw error;
    }
  }

  /**
   * How many user messages wait to be claimed, over every instance, and how long the oldest has
   * waited since it was sent (0 when none waits). Both read the queued partial index.
   */
  async depth(): Promise<{ queued: number; oldestAgeSeconds: number }> {
    const [row] = await this.#db.query<{ queued: string; oldest_age_s: number | null }>(
      `select (select count(*) from message where role = 'user' and status = 'queued') as queued,
              (select extract(epoch from now() - created_at)::float8 from message
               where role = 'user' and status = 'queued' order by id limit 1) as oldest_age_s`,
    );
    return { queued: Number(row!.queued), oldestAgeSeconds: Math.max(0, row!.oldest_age_s ?? 0) };
  }

  /** Extends the leases this instance holds; reports lost leases and requested cancellations. */
  async renewLeases(claims: Claim[], leaseMs: number): Promise<LeaseState[]> {
    if (claims.length === 0) return [];
    const rows = await this.#db.query<{ id: string; cancel_requested: boolean }>(
      `update message m set lease_expires_at = now() + ($1 * interval '1 millisecond')
       from json_to_recordset($2::json) as held(id uuid, attempt int)
       where m.id = held.id and m.attempt = held.attempt and m.status = 'processing'
       returning m.id, m.cancel_requested`,
      [leaseMs, JSON.stringify(claims.map((c) => ({ id: c.messageId, attempt: c.attempt })))],
    );
    const renewed = new Map(rows.map((row) => [row.id, row.cancel_requested]));
    return claims.map((claim) => ({ messageId: claim.messageId, held: renewed.has(claim.messageId), cancelRequested: renewed.get(claim.messageId) ?? false }));
  }

  /**
   * Recovers prompts whose instance stopped renewing their lease: the dead attempt's reply is
   * failed (and so left out of history) unless the lifecycle keeps it, and the user message
   * goes where the lifecycle says (queued again, failed, or cancelled). Returns how many.
   */
  async recoverExpiredLeases(maxAttempts: number): Promise<number> {
    return this.#db.transaction(async (tx) => {
      const expired = await tx.query<{ id: string; attempt: number; cancel_requested: boolean; conversation_id: string }>(
        `select id, attempt, cancel_requested, conversation_id from message
         where role = 'user' and status = 'processing' and lease_expires_at < now()
         for update skip locked`,
      );
      for (const lease of expired) {
        const replies = await tx.query<{ id: string; awaits_client: boolean }>(
          `select m.id, ${AWAITS_CLIENT} as awaits_client from message m where m.reply_to = $1 and m.status = 'processing'`,
          [lease.id],
        );
        const failed = await failReplies(tx, replies.filter((r) => !replySurvives({ awaitsClient: r.awaits_client })).map((r) => r.id), 'lease_expired', messageErrors.leaseExpired());
        const next = afterLeaseExpired({ cancelRequested: lease.cancel_requested, attempt: lease.attempt }, maxAttempts);
        const [user] = await tx.query<MessageRow>(
          `update message set status = $1::text, error = $2, updated_at = now(), lease_expires_at = null,
             started_at = case when $1::text = 'queued' then null else started_at end,
             ended_at = case when $1::text = 'queued' then ended_at else now() end
           where id = $3 and status = any($4) returning *`,
          [next.status, next.error && JSON.stringify(next.error), lease.id, from('user', 'lease_expired', next.status)],
        );
        const ended = user && next.error ? [{ type: 'prompt_failed' as const, messageId: lease.id, replyId: failed[0]?.id ?? null, error: next.error }] : [];
        await appendEvents(tx, lease.conversation_id, [...failed.map(statusChanged), ...(user ? [statusChanged(user)] : []), ...ended]);
        await notify(tx, QUEUE_CHANNEL, lease.conversation_id);
      }
      return expired.length;
    });
  }
}

async function lockUserMessage(tx: Sql, owner: Owner, conversationId: string, messageId: string): Promise<(MessageRow & { subject_id: string | null }) | null> {
  const [row] = await tx.query<MessageRow & { subject_id: string | null }>(
    `select m.*, c.subject_id from message m join conversation c on c.id = m.conversation_id
     where m.id = $1 and m.conversation_id = $2 and ${OWNED_BY('$3', '$4', 'c')} and m.role = 'user'
     for update of m`,
    [messageId, conversationId, owner.tenantId, owner.subjectId],
  );
  return row ?? null;
}

function isUniqueViolation(error: unknown): boolean {
  return typeof error === 'object' && error !== null && 'code' in error && (error as { code: unknown }).code === '23505';
}
