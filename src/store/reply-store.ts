import type { ConversationEvent } from '../domain/events.ts';
import { uuidv7 } from '../domain/ids.ts';
import { from, replySurvives, type PromptOutcome, type Step } from '../domain/lifecycle.ts';
import { messageErrors } from '../domain/message-errors.ts';
import type { BlockContent, Claim, MessageError, MessageRecord, ModelRequestUsage } from '../domain/records.ts';
import { EVENTS_CHANNEL, QUEUE_CHANNEL } from './channels.ts';
import type { Database, Sql } from './database.ts';
import { appendEvents, NOTIFY_LIMIT, notify } from './event-log.ts';
import { statusChanged, toMessage, type MessageRow } from './message-rows.ts';
import { materializeBlocks, readBlocks } from './streamed-blocks.ts';

/** A block to store at `position`; `streaming`: as it started, its deltas complete it on read. */
export interface BlockWrite {
  position: number;
  content: BlockContent;
  streaming?: boolean;
}

/**
 * The writes of a running prompt: its reply, the reply's blocks and events, and its end. Every
 * one is fenced by the claim (message id, attempt, status processing): a write of an attempt
 * that lost its claim changes nothing and reports so.
 */
export class ReplyStore {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  /** Creates the assistant message for this attempt (or adopts a waiting one); null if the claim is lost. */
  async startReply(claim: Claim, model: string): Promise<MessageRecord | null> {
    return this.#db.transaction(async (tx) => {
      if (!(await holds(tx, claim))) return null;
      // An earlier attempt that stopped while a client tool call was open left its reply
      // processing: this attempt carries on with it instead of asking the model again.
      const [adopted] = await tx.query<MessageRow>(
        `update message set attempt = $1, instance_id = (select instance_id from message where id = $2)
         where reply_to = $2 and role = 'assistant' and status = 'processing' returning *`,
        [claim.attempt, claim.messageId],
      );
      if (adopted) return toMessage(adopted, (await readBlocks(tx, [adopted.id])).get(adopted.id) ?? []);
      const [row] = await tx.query<MessageRow>(
        `insert into message (id, conversation_id, role, status, reply_to, model, attempt, instance_id, created_at, updated_at, started_at)
         values ($1, $2, 'assistant', 'processing', $3, $4, $5, (select instance_id from message where id = $3), now(), now(), now()) returning *`,
        [uuidv7(), claim.conversationId, claim.messageId, model, claim.attempt],
      );
      await appendEvents(tx, claim.conversationId, [statusChanged(row!)]);
      return toMessage(row!);
    });
  }

  /**
   * Writes blocks of a reply (inserted or replaced by position), the events that describe the
   * change, and the usage of model requests that ended, atomically. Returns false when the claim
   * was lost: nothing was written. A usage row already written (a retried write) is not doubled.
   */
  async writeBlocks(claim: Claim, replyId: string, blocks: BlockWrite[], events: ConversationEvent[], usage: ModelRequestUsage[] = []): Promise<boolean> {
    // One statement, so one round trip, atomic on its own: this runs every flush interval of
    // every streaming prompt. The same steps as holds() + appendEvents, as data-modifying CTEs
    // gated on the claim; the notification goes out when the statement commits.
    const [row] = await this.#db.query<{ held: boolean }>(
      `with held as (
         select id from message where id = $1 and attempt = $2 and status = 'processing' for share
       ),
       seq as (
         update conversation set last_seq = last_seq + $5::int
         where id = $6::uuid and $5::int > 0 and exists (select 1 from held)
         returning last_seq - $5::int + 1 as first, last_seq as last
       ),
       written_blocks as (
         insert into block (message_id, position, content, streamed_after)
         select $3, b.position, b.content, case when b.streaming then (select first from seq) - 1 end
         from json_to_recordset($4::json) as b(position int, content json, streaming boolean)
         where exists (select 1 from held)
         on conflict (message_id, position) do update set content = excluded.content, streamed_after = excluded.streamed_after
       ),
       written_events as (
         insert into event (conversation_id, seq, payload, created_at)
         select $6::uuid, seq.first + e.ordinality - 1, e.value, now()
         from seq, json_array_elements($7::json) with ordinality as e(value, ordinality)
       ),
       written_usage as (
         insert into usage_record (id, tenant_id, subject_id, conversation_id, message_id, reply_id, attempt, round, model,
           input_tokens, output_tokens, cache_creation_input_tokens, cache_read_input_tokens, web_search_requests,
           stop_reason, started_at, ended_at)
         select u.id, u.tenant_id, u.subject_id, u.conversation_id, u.message_id, u.reply_id, u.attempt, u.round, u.model,
           u.input_tokens, u.output_tokens, u.cache_creation_input_tokens, u.cache_read_input_tokens, u.web_search_requests,
           u.stop_reason, u.started_at, u.ended_at
         from json_to_recordset($10::json) as u(id uuid, tenant_id text, subject_id text, conversation_id uuid, message_id uuid,
           reply_id uuid, attempt int, round int, model text, input_tokens int, output_tokens int, cache_creation_input_tokens int,
           cache_read_input_tokens int, web_search_requests int, stop_reason text, started_at timestamptz, ended_at timestamptz)
         where exists (select 1 from held)
         on conflict (reply_id, attempt, round) where purpose = 'reply' do nothing
       ),
       notified as (
         select pg_notify($8, case when octet_length(notice.inline) <= $9::int then notice.inline else notice.bare end)
         from seq, lateral (
           select json_build_object('conversationId', $6::uuid, 'from', seq.first, 'to', seq.last, 'events', $7::json)::text as inline,
                  json_build_object('conversationId', $6::uuid, 'from', seq.first, 'to', seq.last)::text as bare
         ) as notice
       )
       select exists (select 1 from held) as held, (select count(*) from notified) as notified`,
      [claim.messageId, claim.attempt, replyId, JSON.stringify(blocks), events.length, claim.conversationId, JSON.stringify(events), EVENTS_CHANNEL, NOTIFY_LIMIT, JSON.stringify(usage.map(usageRow))],
    );
    return row?.held === true;
  }

  /**
   * Ends a prompt: the user message and this attempt's reply reach their final status together.
   * Returns false (and writes nothing) when the claim was lost.
   */
  async finish(claim: Claim, replyId: string | null, outcome: PromptOutcome): Promise<boolean> {
    return this.#db.transaction(async (tx) => {
      const error = outcome.error && JSON.stringify(outcome.error);
      const [user] = await tx.query<MessageRow>(
        `update message set status = $1, error = $2, ended_at = now(), updated_at = now(), lease_expires_at = null
         where id = $3 and attempt = $4 and status = 'processing' and status = any($5) returning *`,
        [outcome.status, error, claim.messageId, claim.attempt, from('user', 'finish', outcome.status)],
      );
      if (!user) return false;
      const events: ConversationEvent[] = [];
      if (replyId !== null) {
        const [reply] = await tx.query<MessageRow>(
          `update message set status = $1, error = $2, stop_reason = $3, usage = $4, ended_at = now(), updated_at = now()
           where id = $5 and status = any($6) returning *`,
          [outcome.status, error, outcome.stopReason, outcome.usage && JSON.stringify(outcome.usage), replyId, from('assistant', 'finish', outcome.status)],
        );
        if (reply) events.push(statusChanged(reply));
        // A block the stream never stopped (a write chain broken by an error, a stream that ended
        // early) is written whole now, so that no read completes it from events for ever after.
        await materializeBlocks(tx, [replyId]);
      }
      events.push(statusChanged(user));
      events.push(
        outcome.status === 'completed'
          ? { type: 'prompt_finished', messageId: claim.messageId, replyId: replyId ?? '', stopReason: outcome.stopReason, usage: outcome.usage }
          : { type: 'prompt_failed', messageId: claim.messageId, replyId, error: outcome.error ?? messageErrors.ended(outcome.status) },
      );
      await appendEvents(tx, claim.conversationId, events);
      // The next message of this conversation may start now, on any instance.
      await notify(tx, QUEUE_CHANNEL, claim.conversationId);
      return true;
    });
  }

  /**
   * Gives a running prompt back to the queue (its instance is shutting down): the user message
   * is queued again for any instance to take, and this attempt's reply is failed and left out
   * of history unless the lifecycle keeps it. Returns false when the claim was already lost.
   */
  async release(claim: Claim, replyId: string | null): Promise<boolean> {
    return this.#db.transaction(async (tx) => {
      const [user] = await tx.query<MessageRow>(
        `update message set status = 'queued', started_at = null, updated_at = now(), lease_expires_at = null
         where id = $1 and attempt = $2 and status = 'processing' and status = any($3) returning *`,
        [claim.messageId, claim.attempt, from('user', 'release', 'queued')],
      );
      if (!user) return false;
      const [reply] =
        replyId === null ? [] : await tx.query<{ id: string; awaits_client: boolean }>(`select m.id, ${AWAITS_CLIENT} as awaits_client from message m where m.id = $1`, [replyId]);
      const failed = reply && !replySurvives({ awaitsClient: reply.awaits_client }) ? await failReplies(tx, [reply.id], 'release', messageErrors.interrupted()) : [];
      await appendEvents(tx, claim.conversationId, [...failed, user].map(statusChanged));
      await notify(tx, QUEUE_CHANNEL, claim.conversationId);
      return true;
    });
  }
}

function usageRow(u: ModelRequestUsage) {
  return {
    id: uuidv7(),
    tenant_id: u.tenantId,
    subject_id: u.subjectId,
    conversation_id: u.conversationId,
    message_id: u.messageId,
    reply_id: u.replyId,
    attempt: u.attempt,
    round: u.round,
    model: u.model,
    input_tokens: u.usage.inputTokens,
    output_tokens: u.usage.outputTokens,
    cache_creation_input_tokens: u.usage.cacheCreationInputTokens,
    cache_read_input_tokens: u.usage.cacheReadInputTokens,
    web_search_requests: u.webSearchRequests,
    stop_reason: u.stopReason,
    started_at: u.startedAt.toISOString(),
    ended_at: u.endedAt.toISOString(),
  };
}

/** A reply (alias m) that a client tool call still waits on, or whose answer is not in it yet. */
export const AWAITS_CLIENT = `exists (select 1 from client_tool_call t where t.message_id = m.id and not t.applied)`;

/**
 * Fails the replies of an attempt that ended without finishing (`step`: given back, or its lease
 * expired); their streaming blocks are written whole once, not rebuilt at every read.
 */
export async function failReplies(tx: Sql, replyIds: string[], step: Extract<Step, 'release' | 'lease_expired'>, error: MessageError): Promise<MessageRow[]> {
  if (replyIds.length === 0) return [];
  const rows = await tx.query<MessageRow>(
    `update message set status = 'failed', ended_at = now(), updated_at = now(), error = $1
     where id = any($2::uuid[]) and status = any($3) returning *`,
    [JSON.stringify(error), replyIds, from('assistant', step, 'failed')],
  );
  await materializeBlocks(tx, rows.map((row) => row.id));
  return rows;
}

/**
 * Whether the claim still holds, share-locking the user message so that lease recovery cannot
 * take it over before this transaction ends.
 */
export async function holds(tx: Sql, claim: Claim): Promise<boolean> {
  const rows = await tx.query(`select id from message where id = $1 and attempt = $2 and status = 'processing' for share`, [claim.messageId, claim.attempt]);
  return rows.length > 0;
}
