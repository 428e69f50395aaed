import type { MessageRecord, MessageStatus, Owner } from '../domain/records.ts';
import { uuidv7 } from '../domain/ids.ts';
import { QUEUE_CHANNEL } from './channels.ts';
import { hasRoomForConversation, OWNED_BY } from './conversation-store.ts';
import type { Database } from './database.ts';
import { appendEvents, notify } from './event-log.ts';
import { toMessage, type MessageRow } from './message-rows.ts';

export interface ForkInput {
  /** The last message to copy. */
  messageId: string;
  /** In place of that message (a user message), queued in the fork. */
  text: string | null;
  /** null: the original's. */
  title: string | null;
  /** The tenant's most conversations, when it has a limit. */
  maxConversations: number | null;
}

export type ForkResult =
  | { kind: 'forked'; conversationId: string; queued: MessageRecord | null }
  | { kind: 'not_found' }
  | { kind: 'message_not_found' }
  | { kind: 'other_conversation' }
  | { kind: 'busy'; status: MessageStatus }
  | { kind: 'not_user' }
  | { kind: 'conversation_limit'; limit: number };

const COPIED_STATUSES = ['completed', 'failed', 'cancelled'];

/**
 * ForkConversation: one transaction copies a conversation's settled history up to one message
 * into a new conversation of the same owner, blocks byte for byte (thinking signatures and tool
 * pairs stay valid for the API), under new ids in the same order. Nothing queued or running is
 * copied, nor events, usage or client tool calls. The latest compaction comes along when both
 * the messages it reaches and the reply that made it are copied.
 */
export class ForkStore {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  async fork(owner: Owner, conversationId: string, input: ForkInput): Promise<ForkResult> {
    return this.#db.transaction(async (tx) => {
      const [source] = await tx.query<{ owner_id: string; subject_id: string | null; title: string; settings: unknown }>(
        `select owner_id, subject_id, title, settings from conversation where id = $1 and ${OWNED_BY('$2', '$3')} for share`,
        [conversationId, owner.tenantId, owner.subjectId],
      );
      if (!source) return { kind: 'not_found' };
      const [at] = await tx.query<{ role: string; status: MessageStatus }>('select role, status from message where id = $1 and conversation_id = $2', [input.messageId, conversationId]);
      if (!at) {
        // A message of another of the owner's conversations is a mistake worth naming; one of
        // another owner's does not exist for this one.
        const [elsewhere] = await tx.query(`select 1 from message m join conversation c on c.id = m.conversation_id where m.id = $1 and ${OWNED_BY('$2', '$3', 'c')}`, [
          input.messageId,
          owner.tenantId,
          owner.subjectId,
        ]);
        return { kind: elsewhere ? 'other_conversation' : 'message_not_found' };
      }
      if (!COPIED_STATUSES.includes(at.status)) return { kind: 'busy', status: at.status };
      if (input.text !== null && at.role !== 'user') return { kind: 'not_user' };
      if (input.maxConversations !== null && !(await hasRoomForConversation(tx, source.owner_id, input.maxConversations))) {
        return { kind: 'conversation_limit', limit: input.maxConversations };
      }

      const forkId = uuidv7();
      await tx.query(
        `insert into conversation (id, owner_id, subject_id, title, settings, created_at, updated_at) values ($1, $2, $3, $4, $5, now(), now())`,
        [forkId, source.owner_id, source.subject_id, input.title ?? source.title, JSON.stringify(source.settings)],
      );
      const copied = await tx.query<{ id: string }>(
        `select id from message where conversation_id = $1 and status = any($2) and (id < $3 or (id = $3 and not $4)) order by id`,
        [conversationId, COPIED_STATUSES, input.messageId, input.text !== null],
      );
      const oldIds = copied.map((row) => row.id);
      // New ids in the old order: the queue and the history builder read messages by id.
      const newIds = oldIds.map(() => uuidv7());
      if (oldIds.length > 0) {
        await tx.query(
          `insert into message (id, conversation_id, role, status, error, reply_to, stop_reason, model, usage, queue_position, request_id,
             created_at, updated_at, started_at, ended_at, attempt, lease_expires_at, cancel_requested, instance_id, trace_context)
           select map.new_id, $3, m.role, m.status, m.error, reply.new_id, m.stop_reason, m.model, m.usage, 0, null,
             m.created_at, m.updated_at, m.started_at, m.ended_at, m.attempt, null, false, m.instance_id, null
           from unnest($1::uuid[], $2::uuid[]) as map(old_id, new_id)
           join message m on m.id = map.old_id
           left join unnest($1::uuid[], $2::uuid[]) as reply(old_id, new_id) on reply.old_id = m.reply_to`,
          [oldIds, newIds, forkId],
        );
        await tx.query(
          `insert into block (message_id, position, content)
           select map.new_id, b.position, b.content from unnest($1::uuid[], $2::uuid[]) as map(old_id, new_id) join block b on b.message_id = map.old_id`,
          [oldIds, newIds],
        );
        await tx.query(
          `insert into compaction (id, conversation_id, through_message_id, reply_id, summary, model, tokens_before, tokens_after, created_at)
           select $3, $4, through.new_id, made.new_id, c.summary, c.model, c.tokens_before, c.tokens_after, c.created_at
           from (select * from compaction where conversation_id = $5 order by created_at desc, id desc limit 1) c
           join unnest($1::uuid[], $2::uuid[]) as through(old_id, new_id) on through.old_id = c.through_message_id
           join unnest($1::uuid[], $2::uuid[]) as made(old_id, new_id) on made.old_id = c.reply_id`,
          [oldIds, newIds, uuidv7(), forkId, conversationId],
        );
      }
      let queued: MessageRecord | null = null;
      if (input.text !== null) {
        const [row] = await tx.query<MessageRow>(
          `insert into message (id, conversation_id, role, status, queue_position, created_at, updated_at) values ($1, $2, 'user', 'queued', 0, now(), now()) returning *`,
          [uuidv7(), forkId],
        );
        const text = { type: 'text' as const, text: input.text };
        await tx.query('insert into block (message_id, position, content) values ($1, 0, $2)', [row!.id, JSON.stringify(text)]);
        queued = toMessage(row!, [text]);
        await appendEvents(tx, forkId, [{ type: 'message_queued', message: queued }]);
        await notify(tx, QUEUE_CHANNEL, forkId);
      }
      return { kind: 'forked', conversationId: forkId, queued };
    });
  }
}
