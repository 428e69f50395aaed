import type { Transaction } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { CANCEL_CHANNEL, EVENTS_CHANNEL, QUEUE_CHANNEL, TOOL_RESULT_CHANNEL } from './channels.ts';
import { appendEvents, NOTIFY_LIMIT, type ConversationEvent } from './events.ts';
import { uuidv7 } from './ids.ts';
import { completeBlocks, materializeBlocks, storedBlock } from './streamed-blocks.ts';
import type { Orm } from './orm.ts';
import type { BlockContent, MessageError, MessageRecord, MessageStatus, Usage } from './records.ts';


/** A user message claimed by this instance: the fence for every write of its prompt. */
export interface Claim {
  ownerId: string;
  conversationId: string;
  messageId: string;
  attempt: number;
}

export type EnqueueResult =
  | { kind: 'queued'; message: MessageRecord; created: boolean }
  | { kind: 'not_found' }
  | { kind: 'request_id_reused'; message: MessageRecord }
  | { kind: 'queue_full'; limit: number };

export type TransitionResult =
  | { kind: 'ok'; message: MessageRecord }
  | { kind: 'not_found' }
  | { kind: 'wrong_status'; status: MessageStatus };

export interface PromptOutcome {
  status: Extract<MessageStatus, 'completed' | 'failed' | 'cancelled'>;
  error: MessageError | null;
  stopReason: string | null;
  usage: Usage | null;
}

export interface ClientCallState {
  toolUseId: string;
  status: 'awaiting' | 'answered' | 'timed_out';
  deadline: Date;
  content: string | null;
  isError: boolean;
  createdAt: Date;
  answeredAt: Date | null;
}

export type SubmitResult = { kind: 'ok' } | { kind: 'not_found' } | { kind: 'already'; status: 'answered' | 'timed_out' };

export interface LeaseState {
  messageId: string;
  /** False when the lease was lost (expired and taken over): stop at once, write nothing. */
  held: boolean;
  cancelRequested: boolean;
}

interface MessageRow {
  id: string;
  conversation_id: string;
  role: 'user' | 'assistant';
  status: MessageStatus;
  error: MessageError | null;
  reply_to: string | null;
  stop_reason: string | null;
  model: string | null;
  usage: Usage | null;
  queue_position: number;
  request_id: string | null;
  created_at: Date;
  updated_at: Date;
  started_at: Date | null;
  ended_at: Date | null;
  attempt: number;
}

/**
 * The queue's and the prompt runner's side of the store. Claims use row locks with SKIP LOCKED
 * and a partial unique index backs the one-active-prompt rule; every write of a running prompt
 * is fenced by (message id, attempt, status = processing).
 */
export class PromptStore {
  readonly #orm: Orm;

  constructor(orm: Orm) {
    this.#orm = orm;
  }

  #em(): EntityManager {
    return this.#orm.em.fork();
  }

  readonly #sql = async <T>(sql: string, params: unknown[] = [], ctx?: Transaction): Promise<T[]> => {
    return this.#orm.em.getConnection().execute<T[]>(sql, params, 'all', ctx);
  };

  /**
   * A statement with bound parameters, straight on the pool: MikroORM's execute() inlines
   * parameters into the SQL text, which for the hot write path means quoting whole blocks in
   * JavaScript on every flush. Reported to onQuery (for counting; its return value is not used),
   * but MikroORM's query logging and error mapping are bypassed: errors are pg's own.
   */
  readonly #bound = async <T>(text: string, values: unknown[]): Promise<T[]> => {
    const connection = this.#orm.em.getConnection();
    this.#orm.config.get('onQuery')?.(text, values);
    const pool = await connection.getNativeClient();
    return (await pool.query(text, values)).rows as T[];
  };

  #events(ctx: Transaction, conversationId: string, events: ConversationEvent[]) {
    return appendEvents(this.#sql, ctx, conversationId, events);
  }

  /**
   * Runs writes of a running prompt in one transaction, only while the claim holds: the user
   * message row is share-locked so lease recovery cannot take it over mid-write.
   */
  async #fenced<T>(claim: Claim, write: (ctx: Transaction) => Promise<T>): Promise<T | null> {
    return this.#em().transactional(async (em) => {
      const ctx = em.getTransactionContext();
      const [held] = await this.#sql<{ id: string }>(
        `select id from message where id = ? and attempt = ? and status = 'processing' for share`,
        [claim.messageId, claim.attempt],
        ctx,
      );
      return held ? write(ctx) : null;
    });
  }

  /** Stores a user message as queued and wakes the queue, in one transaction. */
  async enqueue(
    ownerId: string,
    conversationId: string,
    input: { text: string; requestId: string | null; maxQueued: number },
  ): Promise<EnqueueResult> {
    return this.#em().transactional(async (em) => {
      const ctx = em.getTransactionContext();
      // Locking the conversation serialises sends into it: queue positions and the queue limit
      // stay exact under concurrent sends.
      const [conversation] = await this.#sql<{ id: string }>(
        'select id from conversation where id = ? and owner_id = ? for update',
        [conversationId, ownerId],
        ctx,
      );
      if (!conversation) return { kind: 'not_found' };
      if (input.requestId !== null) {
        const [existing] = await this.#sql<MessageRow>(
          `select * from message where conversation_id = ? and request_id = ?`,
          [conversationId, input.requestId],
          ctx,
        );
        if (existing) {
          const blocks = await this.#blocks([existing.id], ctx);
          const message = rowToMessage(existing, blocks.get(existing.id) ?? []);
          const sameText = message.blocks.length === 1 && message.blocks[0]?.type === 'text' && message.blocks[0].text === input.text;
          return sameText ? { kind: 'queued', message, created: false } : { kind: 'request_id_reused', message };
        }
      }
      const [ahead] = await this.#sql<{ count: string }>(
        `select count(*) from message where conversation_id = ? and role = 'user' and status in ('queued', 'processing')`,
        [conversationId],
        ctx,
      );
      const position = Number(ahead?.count ?? 0);
      if (position >= input.maxQueued) return { kind: 'queue_full', limit: input.maxQueued };
      const id = uuidv7();
      const [row] = await this.#sql<MessageRow>(
        `insert into message (id, conversation_id, role, status, queue_position, request_id, created_at, updated_at)
         values (?, ?, 'user', 'queued', ?, ?, now(), now()) returning *`,
        [id, conversationId, position, input.requestId],
        ctx,
      );
      const blocks: BlockContent[] = [{ type: 'text', text: input.text }];
      await this.#sql('insert into block (message_id, position, content) values (?, 0, ?)', [id, JSON.stringify(blocks[0])], ctx);
      const message = rowToMessage(row!, blocks);
      await this.#events(ctx, conversationId, [{ type: 'message_queued', message }]);
      await this.#sql('select pg_notify(?, ?)', [QUEUE_CHANNEL, conversationId], ctx);
      return { kind: 'queued', message, created: true };
    });
  }

  /** Queues a failed or cancelled user message again, at the end of its conversation's queue. */
  async requeue(ownerId: string, conversationId: string, messageId: string): Promise<TransitionResult> {
    return this.#em().transactional(async (em) => {
      const ctx = em.getTransactionContext();
      const current = await this.#userMessage(ownerId, conversationId, messageId, ctx, true);
      if (!current) return { kind: 'not_found' };
      if (current.status !== 'failed' && current.status !== 'cancelled') return { kind: 'wrong_status', status: current.status };
      // The queue takes messages in id order, so a retried message keeps its place: it runs
      // before later messages still queued. See docs/engine.md.
      const [ahead] = await this.#sql<{ count: string }>(
        `select count(*) from message where conversation_id = ? and role = 'user' and id <> ?
           and (status = 'processing' or (status = 'queued' and id < ?))`,
        [conversationId, messageId, messageId],
        ctx,
      );
      const [row] = await this.#sql<MessageRow>(
        `update message set status = 'queued', error = null, started_at = null, ended_at = null,
           cancel_requested = false, queue_position = ?, updated_at = now()
         where id = ? returning *`,
        [Number(ahead?.count ?? 0), messageId],
        ctx,
      );
      await this.#events(ctx, conversationId, [{ type: 'message_status_changed', message: rowToMessage(row!, []) }]);
      await this.#sql('select pg_notify(?, ?)', [QUEUE_CHANNEL, conversationId], ctx);
      const blocks = await this.#blocks([messageId], ctx);
      return { kind: 'ok', message: rowToMessage(row!, blocks.get(messageId) ?? []) };
    });
  }

  /**
   * Cancels a user message: a queued one leaves the queue at once; a running one is flagged, and
   * the instance running it is told (NOTIFY) to stop.
   */
  async cancel(ownerId: string, conversationId: string, messageId: string): Promise<TransitionResult> {
    return this.#em().transactional(async (em) => {
      const ctx = em.getTransactionContext();
      const current = await this.#userMessage(ownerId, conversationId, messageId, ctx, true);
      if (!current) return { kind: 'not_found' };
      let row: MessageRow | undefined;
      if (current.status === 'queued') {
        [row] = await this.#sql<MessageRow>(
          `update message set status = 'cancelled', ended_at = now(), updated_at = now(), error = ?
           where id = ? returning *`,
          [JSON.stringify(CANCELLED), messageId],
          ctx,
        );
        await this.#events(ctx, conversationId, [{ type: 'message_status_changed', message: rowToMessage(row!, []) }]);
      } else if (current.status === 'processing') {
        // Not a visible change (no event, updated_at kept): the prompt's end is.
        [row] = await this.#sql<MessageRow>(
          'update message set cancel_requested = true where id = ? returning *',
          [messageId],
          ctx,
        );
        await this.#sql('select pg_notify(?, ?)', [CANCEL_CHANNEL, messageId], ctx);
      } else {
        return { kind: 'wrong_status', status: current.status };
      }
      const blocks = await this.#blocks([messageId], ctx);
      return { kind: 'ok', message: rowToMessage(row!, blocks.get(messageId) ?? []) };
    });
  }

  /**
   * Claims the oldest queued user message of a conversation that has no active prompt, or
   * returns null. Safe across instances: the conversation row is locked (skipping ones another
   * claimer holds), and the partial unique index refuses a second active prompt regardless.
   */
  async claimNext(leaseMs: number): Promise<Claim | null> {
    return this.#em().transactional(async (em) => {
      const ctx = em.getTransactionContext();
      const [candidate] = await this.#sql<{ id: string; conversation_id: string; owner_id: string }>(
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
        [],
        ctx,
      );
      if (!candidate) return null;
      // The status check runs again on the row's latest version: if another instance claimed
      // or cancelled it after our snapshot, nothing is updated and the caller tries again.
      const [claimed] = await this.#sql<MessageRow>(
        `update message set status = 'processing', attempt = attempt + 1, started_at = now(), updated_at = now(),
           lease_expires_at = now() + (? * interval '1 millisecond')
         where id = ? and status = 'queued' returning *`,
        [leaseMs, candidate.id],
        ctx,
      );
      if (!claimed) return null;
      await this.#events(ctx, candidate.conversation_id, [{ type: 'message_status_changed', message: rowToMessage(claimed, []) }]);
      return {
        ownerId: candidate.owner_id,
        conversationId: candidate.conversation_id,
        messageId: candidate.id,
        attempt: claimed.attempt,
      };
    });
  }

  /** Extends the leases this instance holds; reports lost leases and requested cancellations. */
  async renewLeases(claims: Claim[], leaseMs: number): Promise<LeaseState[]> {
    if (claims.length === 0) return [];
    const rows = await this.#sql<{ id: string; cancel_requested: boolean }>(
      `update message m set lease_expires_at = now() + (? * interval '1 millisecond')
       from json_to_recordset(?::json) as held(id uuid, attempt int)
       where m.id = held.id and m.attempt = held.attempt and m.status = 'processing'
       returning m.id, m.cancel_requested`,
      [leaseMs, JSON.stringify(claims.map((c) => ({ id: c.messageId, attempt: c.attempt })))],
    );
    const renewed = new Map(rows.map((row) => [row.id, row.cancel_requested]));
    return claims.map((claim) => ({
      messageId: claim.messageId,
      held: renewed.has(claim.messageId),
      cancelRequested: renewed.get(claim.messageId) ?? false,
    }));
  }

  /**
   * Recovers prompts whose instance stopped renewing their lease: the attempt's partial reply is
   * marked failed (and so left out of history), and the user message is queued again, or failed
   * after `maxAttempts`, or cancelled if cancellation had been requested.
   */
  async recoverExpiredLeases(maxAttempts: number): Promise<number> {
    return this.#em().transactional(async (em) => {
      const ctx = em.getTransactionContext();
      const expired = await this.#sql<{ id: string; attempt: number; cancel_requested: boolean; conversation_id: string }>(
        `select id, attempt, cancel_requested, conversation_id from message
         where role = 'user' and status = 'processing' and lease_expires_at < now()
         for update skip locked`,
        [],
        ctx,
      );
      for (const message of expired) {
        const replies = await this.#sql<MessageRow>(
          `update message m set status = 'failed', ended_at = now(), updated_at = now(), error = ?
           where m.reply_to = ? and m.status = 'processing' and not ${AWAITS_CLIENT} returning *`,
          [JSON.stringify(LEASE_EXPIRED), message.id],
          ctx,
        );
        // The dead attempt's streaming blocks are written whole once, not rebuilt at every read.
        await materializeBlocks(this.#sql, ctx, replies.map((row) => row.id));
        let user: MessageRow[];
        if (message.cancel_requested) {
          user = await this.#sql<MessageRow>(
            `update message set status = 'cancelled', ended_at = now(), updated_at = now(), lease_expires_at = null, error = ? where id = ? returning *`,
            [JSON.stringify(CANCELLED), message.id],
            ctx,
          );
        } else if (message.attempt >= maxAttempts) {
          user = await this.#sql<MessageRow>(
            `update message set status = 'failed', ended_at = now(), updated_at = now(), lease_expires_at = null, error = ? where id = ? returning *`,
            [JSON.stringify(attemptsExhausted(maxAttempts)), message.id],
            ctx,
          );
        } else {
          user = await this.#sql<MessageRow>(
            `update message set status = 'queued', started_at = null, updated_at = now(), lease_expires_at = null where id = ? returning *`,
            [message.id],
            ctx,
          );
        }
        const changed = [...replies, ...user].map((row) => ({ type: 'message_status_changed' as const, message: rowToMessage(row, []) }));
        const ended = user[0] && user[0].status !== 'queued' ? [{ type: 'prompt_failed' as const, messageId: message.id, replyId: replies[0]?.id ?? null, error: user[0].error! }] : [];
        await this.#events(ctx, message.conversation_id, [...changed, ...ended]);
        await this.#sql('select pg_notify(?, ?)', [QUEUE_CHANNEL, message.conversation_id], ctx);
      }
      return expired.length;
    });
  }

  /** Creates the assistant message for this attempt; null if the claim is no longer held. */
  async startReply(claim: Claim, model: string): Promise<MessageRecord | null> {
    return this.#fenced(claim, async (ctx) => {
      // An earlier attempt that stopped while a client tool call was open left its reply
      // processing: this attempt carries on with it instead of asking the model again.
      const [adopted] = await this.#sql<MessageRow>(
        `update message set attempt = ? where reply_to = ? and role = 'assistant' and status = 'processing' returning *`,
        [claim.attempt, claim.messageId],
        ctx,
      );
      if (adopted) {
        const blocks = await this.#blocks([adopted.id], ctx);
        return rowToMessage(adopted, blocks.get(adopted.id) ?? []);
      }
      const [row] = await this.#sql<MessageRow>(
        `insert into message (id, conversation_id, role, status, reply_to, model, attempt, created_at, updated_at, started_at)
         values (?, ?, 'assistant', 'processing', ?, ?, ?, now(), now(), now())
         returning *`,
        [uuidv7(), claim.conversationId, claim.messageId, model, claim.attempt],
        ctx,
      );
      const reply = rowToMessage(row!, []);
      await this.#events(ctx, claim.conversationId, [{ type: 'message_status_changed', message: reply }]);
      return reply;
    });
  }

  /**
   * Writes blocks of a reply (inserted or replaced by position) and the events that describe the
   * change, in one transaction. A block written `streaming` is stored as it stands and completed
   * by its later block_delta events until it is written again whole (see streamed-blocks.ts).
   * Returns false when the claim was lost: nothing was written.
   */
  async writeBlocks(
    claim: Claim,
    replyId: string,
    blocks: Array<{ position: number; content: BlockContent; streaming?: boolean }>,
    events: ConversationEvent[],
  ): Promise<boolean> {
    // One statement, so one round trip, atomic on its own: this runs every flush interval of
    // every streaming prompt. The same steps as #fenced + appendEvents, as data-modifying CTEs
    // gated on the claim; the notification goes out when the statement commits.
    const [row] = await this.#bound<{ held: boolean }>(
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
       notified as (
         select pg_notify($8, case when octet_length(notice.inline) <= $9::int then notice.inline else notice.bare end)
         from seq, lateral (
           select json_build_object('conversationId', $6::uuid, 'from', seq.first, 'to', seq.last, 'events', $7::json)::text as inline,
                  json_build_object('conversationId', $6::uuid, 'from', seq.first, 'to', seq.last)::text as bare
         ) as notice
       )
       select exists (select 1 from held) as held, (select count(*) from notified) as notified`,
      [claim.messageId, claim.attempt, replyId, JSON.stringify(blocks), events.length, claim.conversationId, JSON.stringify(events), EVENTS_CHANNEL, NOTIFY_LIMIT],
    );
    return row?.held === true;
  }

  /**
   * Ends a prompt: the user message and this attempt's reply reach their final status together.
   * Returns false (and writes nothing) when the claim was lost.
   */
  async finish(claim: Claim, replyId: string | null, outcome: PromptOutcome): Promise<boolean> {
    return this.#em().transactional(async (em) => {
      const ctx = em.getTransactionContext();
      const error = outcome.error && JSON.stringify(outcome.error);
      const [user] = await this.#sql<MessageRow>(
        `update message set status = ?, error = ?, ended_at = now(), updated_at = now(), lease_expires_at = null
         where id = ? and attempt = ? and status = 'processing' returning *`,
        [outcome.status, error, claim.messageId, claim.attempt],
        ctx,
      );
      if (!user) return false;
      const events: ConversationEvent[] = [];
      if (replyId !== null) {
        const [reply] = await this.#sql<MessageRow>(
          `update message set status = ?, error = ?, stop_reason = ?, usage = ?, ended_at = now(), updated_at = now()
           where id = ? returning *`,
          [outcome.status, error, outcome.stopReason, outcome.usage && JSON.stringify(outcome.usage), replyId],
          ctx,
        );
        if (reply) events.push({ type: 'message_status_changed', message: rowToMessage(reply, []) });
        // A block the stream never stopped (a write chain broken by an error, a stream that ended
        // early) is written whole now, so that no read completes it from events for ever after.
        await materializeBlocks(this.#sql, ctx, [replyId]);
      }
      events.push({ type: 'message_status_changed', message: rowToMessage(user, []) });
      events.push(
        outcome.status === 'completed'
          ? { type: 'prompt_finished', messageId: claim.messageId, replyId: replyId ?? '', stopReason: outcome.stopReason, usage: outcome.usage }
          : { type: 'prompt_failed', messageId: claim.messageId, replyId, error: outcome.error ?? { code: outcome.status, message: `The prompt was ${outcome.status}.` } },
      );
      await this.#events(ctx, claim.conversationId, events);
      // The next message of this conversation may start now, on any instance.
      await this.#sql('select pg_notify(?, ?)', [QUEUE_CHANNEL, claim.conversationId], ctx);
      return true;
    });
  }

  /**
   * Gives a running prompt back to the queue (its instance is shutting down): this attempt's
   * reply is marked failed and left out of history, the user message is queued again, and any
   * instance may take it. Returns false when the claim was already lost.
   */
  async release(claim: Claim, replyId: string | null): Promise<boolean> {
    return this.#em().transactional(async (em) => {
      const ctx = em.getTransactionContext();
      const [user] = await this.#sql<MessageRow>(
        `update message set status = 'queued', started_at = null, updated_at = now(), lease_expires_at = null
         where id = ? and attempt = ? and status = 'processing' returning *`,
        [claim.messageId, claim.attempt],
        ctx,
      );
      if (!user) return false;
      // A reply waiting for a client tool is kept: the next attempt picks up the wait.
      const replies = replyId === null ? [] : await this.#sql<MessageRow>(
        `update message m set status = 'failed', error = ?, ended_at = now(), updated_at = now()
         where m.id = ? and not ${AWAITS_CLIENT} returning *`,
        [JSON.stringify(INTERRUPTED), replyId],
        ctx,
      );
      await materializeBlocks(this.#sql, ctx, replies.map((row) => row.id));
      await this.#events(
        ctx,
        claim.conversationId,
        [...replies, user].map((row) => ({ type: 'message_status_changed' as const, message: rowToMessage(row, []) })),
      );
      await this.#sql('select pg_notify(?, ?)', [QUEUE_CHANNEL, claim.conversationId], ctx);
      return true;
    });
  }

  /**
   * Opens client tool calls (a row each; calls already open keep theirs) and announces the new
   * ones. Returns the state of every call, or null when the claim was lost.
   */
  async openClientCalls(
    claim: Claim,
    replyId: string,
    calls: Array<{ id: string; name: string; input: Record<string, unknown> }>,
    timeoutMs: number,
  ): Promise<ClientCallState[] | null> {
    return this.#fenced(claim, async (ctx) => {
      const opened = await this.#sql<{ tool_use_id: string; deadline: Date }>(
        `insert into client_tool_call (tool_use_id, conversation_id, message_id, name, status, deadline, created_at)
         select c.id, ?, ?, c.name, 'awaiting', now() + (? * interval '1 millisecond'), now()
         from json_to_recordset(?::json) as c(id text, name text)
         on conflict (tool_use_id) do nothing
         returning tool_use_id, deadline`,
        [claim.conversationId, replyId, timeoutMs, JSON.stringify(calls.map(({ id, name }) => ({ id, name })))],
        ctx,
      );
      const events: ConversationEvent[] = opened.map((row) => {
        const call = calls.find((c) => c.id === row.tool_use_id)!;
        return {
          type: 'tool_call_awaiting_client',
          messageId: replyId,
          toolUseId: call.id,
          name: call.name,
          input: call.input,
          deadline: new Date(row.deadline).toISOString(),
        };
      });
      await this.#events(ctx, claim.conversationId, events);
      return this.#clientCalls(calls.map((c) => c.id), ctx);
    });
  }

  /** The state of these client calls; awaiting ones past their deadline are timed out first. */
  async clientCalls(toolUseIds: string[]): Promise<ClientCallState[]> {
    await this.#sql(
      `update client_tool_call set status = 'timed_out', answered_at = now()
       where status = 'awaiting' and deadline <= now()
         and tool_use_id in (select value from json_array_elements_text(?::json))`,
      [JSON.stringify(toolUseIds)],
    );
    return this.#clientCalls(toolUseIds);
  }

  /** Records that these results are in the reply now (a later attempt need not wait for them). */
  async applyClientCalls(toolUseIds: string[]): Promise<void> {
    await this.#sql(
      `update client_tool_call set applied = true where tool_use_id in (select value from json_array_elements_text(?::json))`,
      [JSON.stringify(toolUseIds)],
    );
  }

  /** The caller's answer to a client tool call; wakes whichever instance runs the prompt. */
  async submitClientResult(
    ownerId: string,
    conversationId: string,
    toolUseId: string,
    result: { content: string; isError: boolean },
  ): Promise<SubmitResult> {
    return this.#em().transactional(async (em) => {
      const ctx = em.getTransactionContext();
      const [call] = await this.#sql<{ status: 'awaiting' | 'answered' | 'timed_out'; expired: boolean }>(
        `select t.status, t.deadline <= now() as expired from client_tool_call t join conversation c on c.id = t.conversation_id
         where t.tool_use_id = ? and t.conversation_id = ? and c.owner_id = ? for update of t`,
        [toolUseId, conversationId, ownerId],
        ctx,
      );
      if (!call) return { kind: 'not_found' };
      if (call.status !== 'awaiting') return { kind: 'already', status: call.status };
      if (call.expired) {
        await this.#sql(`update client_tool_call set status = 'timed_out', answered_at = now() where tool_use_id = ?`, [toolUseId], ctx);
        return { kind: 'already', status: 'timed_out' };
      }
      await this.#sql(
        `update client_tool_call set status = 'answered', content = ?, is_error = ?, answered_at = now() where tool_use_id = ?`,
        [result.content, result.isError, toolUseId],
        ctx,
      );
      await this.#sql('select pg_notify(?, ?)', [TOOL_RESULT_CHANNEL, toolUseId], ctx);
      return { kind: 'ok' };
    });
  }

  async #clientCalls(toolUseIds: string[], ctx?: Transaction): Promise<ClientCallState[]> {
    const rows = await this.#sql<{
      tool_use_id: string;
      status: ClientCallState['status'];
      deadline: Date;
      content: string | null;
      is_error: boolean;
      created_at: Date;
      answered_at: Date | null;
    }>(
      `select tool_use_id, status, deadline, content, is_error, created_at, answered_at from client_tool_call
       where tool_use_id in (select value from json_array_elements_text(?::json))`,
      [JSON.stringify(toolUseIds)],
      ctx,
    );
    return rows.map((row) => ({
      toolUseId: row.tool_use_id,
      status: row.status,
      deadline: new Date(row.deadline),
      content: row.content,
      isError: row.is_error,
      createdAt: new Date(row.created_at),
      answeredAt: row.answered_at ? new Date(row.answered_at) : null,
    }));
  }

  /** Events of a running prompt that change no row (tool calls starting, say). */
  async appendEvents(claim: Claim, events: ConversationEvent[]): Promise<boolean> {
    return (await this.#fenced(claim, async (ctx) => (await this.#events(ctx, claim.conversationId, events), true))) === true;
  }

  async #userMessage(ownerId: string, conversationId: string, messageId: string, ctx: Transaction, lock: boolean) {
    const [row] = await this.#sql<MessageRow>(
      `select m.* from message m join conversation c on c.id = m.conversation_id
       where m.id = ? and m.conversation_id = ? and c.owner_id = ? and m.role = 'user'
       ${lock ? 'for update of m' : ''}`,
      [messageId, conversationId, ownerId],
      ctx,
    );
    return row ?? null;
  }

  async #blocks(messageIds: string[], ctx?: Transaction): Promise<Map<string, BlockContent[]>> {
    const rows = await this.#sql<Parameters<typeof storedBlock>[0]>(
      `select b.message_id, m.conversation_id, b.position, b.content, b.streamed_after
       from block b join message m on m.id = b.message_id
       where b.message_id in (select value::uuid from json_array_elements_text(?::json)) order by b.position`,
      [JSON.stringify(messageIds)],
      ctx,
    );
    const map = new Map<string, BlockContent[]>();
    for (const block of await completeBlocks(this.#sql, ctx, rows.map(storedBlock))) {
      const list = map.get(block.messageId) ?? [];
      list[block.position] = block.content;
      map.set(block.messageId, list);
    }
    return map;
  }
}

// Lists travel as one JSON parameter: the driver layer would expand a JavaScript array into a
// parameter list.

const CANCELLED: MessageError = { code: 'cancelled', message: 'The prompt was cancelled.' };
// A reply (alias m) that a client tool call still waits on, or whose answer is not in it yet.
const AWAITS_CLIENT = `exists (select 1 from client_tool_call t where t.message_id = m.id and not t.applied)`;

const INTERRUPTED: MessageError = {
  code: 'interrupted',
  message: 'The instance answering this message shut down; the message was queued again.',
};
const LEASE_EXPIRED: MessageError = {
  code: 'lease_expired',
  message: 'The instance answering this message stopped responding before it finished.',
};

function attemptsExhausted(maxAttempts: number): MessageError {
  return {
    code: 'attempts_exhausted',
    message: `The message could not be answered after ${maxAttempts} attempts because the instances answering it stopped.`,
  };
}

function rowToMessage(row: MessageRow, blocks: BlockContent[]): MessageRecord {
  return {
    id: row.id,
    conversationId: row.conversation_id,
    role: row.role,
    status: row.status,
    blocks,
    error: row.error,
    replyToId: row.reply_to,
    stopReason: row.stop_reason,
    model: row.model,
    usage: row.usage,
    queuePosition: row.queue_position,
    requestId: row.request_id,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
    startedAt: row.started_at ? new Date(row.started_at) : null,
    endedAt: row.ended_at ? new Date(row.ended_at) : null,
  };
}
