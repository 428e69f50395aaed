import type { EntityManager } from '@mikro-orm/postgresql';
import { IsolationLevel, type InferEntity, type Transaction } from '@mikro-orm/core';
import { CANCEL_CHANNEL, EVENTS_CHANNEL } from './channels.ts';
import { appendEvents, reviveEvent, type EventNotice, type SequencedEvent } from './events.ts';
import { BlockEntity, ConversationEntity, MessageEntity } from './entities/index.ts';
import { uuidv7 } from './ids.ts';
import { completeBlocks } from './streamed-blocks.ts';
import type { Orm } from './orm.ts';
import type { BlockContent, ConversationRecord, ConversationSettings, MessageRecord } from './records.ts';

type ConversationRow = InferEntity<typeof ConversationEntity>;
type MessageRow = InferEntity<typeof MessageEntity>;

export interface NewConversation {
  title: string;
  settings: ConversationSettings;
}

export interface ConversationPatch {
  title?: string;
  settings?: ConversationSettings;
}

export interface AwaitingClientCall {
  messageId: string;
  toolUseId: string;
  name: string;
  input: Record<string, unknown>;
  deadline: Date;
}

export interface ConversationSnapshot {
  conversation: ConversationRecord;
  messages: MessageRecord[];
  awaitingClient: AwaitingClientCall[];
  /** The seq of the last event this state reflects. */
  seq: number;
}

export interface ConversationPage {
  conversations: ConversationRecord[];
  /** Id of the last row when more rows may follow; null on the last page. */
  nextAfterId: string | null;
}

/**
 * Conversations and their messages. Every method takes the owner: a conversation of another
 * owner is indistinguishable from one that does not exist.
 */
export class ConversationStore {
  readonly #orm: Orm;

  constructor(orm: Orm) {
    this.#orm = orm;
  }

  #em(): EntityManager {
    return this.#orm.em.fork();
  }

  async create(ownerId: string, input: NewConversation): Promise<ConversationRecord> {
    const em = this.#em();
    const row = em.create(ConversationEntity, { id: uuidv7(), ownerId, title: input.title, settings: input.settings });
    await em.flush();
    return toConversation(row);
  }

  async get(ownerId: string, id: string): Promise<ConversationRecord | null> {
    const row = await this.#em().findOne(ConversationEntity, { id, ownerId });
    return row ? toConversation(row) : null;
  }

  /** Newest first. Keyset on the time-ordered id, so inserts never shift later pages. */
  async list(ownerId: string, limit: number, afterId: string | null): Promise<ConversationPage> {
    const rows = await this.#em().find(
      ConversationEntity,
      afterId === null ? { ownerId } : { ownerId, id: { $lt: afterId } },
      { orderBy: { id: 'desc' }, limit: limit + 1 },
    );
    const page = rows.slice(0, limit);
    return {
      conversations: page.map(toConversation),
      nextAfterId: rows.length > limit ? (page.at(-1)?.id ?? null) : null,
    };
  }

  async update(ownerId: string, id: string, patch: ConversationPatch): Promise<ConversationRecord | null> {
    return this.#em().transactional(async (em) => {
      const row = await em.findOne(ConversationEntity, { id, ownerId });
      if (!row) return null;
      if (patch.title !== undefined) row.title = patch.title;
      if (patch.settings !== undefined) row.settings = patch.settings;
      await em.flush();
      const conversation = toConversation(row);
      await appendEvents(this.#sql, em.getTransactionContext(), id, [{ type: 'conversation_updated', conversation }]);
      return conversation;
    });
  }

  /** Removes the conversation; its messages, blocks and events go with it (foreign keys cascade). */
  async delete(ownerId: string, id: string): Promise<boolean> {
    return this.#em().transactional(async (em) => {
      const ctx = em.getTransactionContext();
      // A running prompt of this conversation stops now rather than at its next lease renewal.
      const running = await this.#sql<{ id: string }>(
        `select m.id from message m join conversation c on c.id = m.conversation_id
         where c.id = ? and c.owner_id = ? and m.role = 'user' and m.status = 'processing'`,
        [id, ownerId],
        ctx,
      );
      const deleted = await em.nativeDelete(ConversationEntity, { id, ownerId });
      if (deleted === 0) return false;
      for (const message of running) await this.#sql('select pg_notify(?, ?)', [CANCEL_CHANNEL, message.id], ctx);
      const notice: EventNotice = { conversationId: id, from: 0, to: 0, deleted: true };
      await this.#sql('select pg_notify(?, ?)', [EVENTS_CHANNEL, JSON.stringify(notice)], ctx);
      return true;
    });
  }

  /**
   * The conversation, its messages with their blocks (streaming ones completed from their events)
   * and the seq all of it reflects, read in one consistent snapshot of the database.
   */
  async snapshot(ownerId: string, id: string): Promise<ConversationSnapshot | null> {
    return this.#em().transactional(
      async (em) => {
        const conversation = await em.findOne(ConversationEntity, { id, ownerId });
        if (!conversation) return null;
        const messages = await this.#messagesIn(em, id);
        const waiting = await this.#sql<{ tool_use_id: string; message_id: string; name: string; deadline: Date }>(
          `select tool_use_id, message_id, name, deadline from client_tool_call
           where conversation_id = ? and status = 'awaiting' order by created_at`,
          [id],
          em.getTransactionContext(),
        );
        const awaitingClient = waiting.map((row) => {
          const use = messages
            .find((m) => m.id === row.message_id)
            ?.blocks.find((b) => b.type === 'tool_use' && b.id === row.tool_use_id);
          return {
            messageId: row.message_id,
            toolUseId: row.tool_use_id,
            name: row.name,
            input: use?.type === 'tool_use' ? use.input : {},
            deadline: new Date(row.deadline),
          };
        });
        return { conversation: toConversation(conversation), messages, awaitingClient, seq: conversation.lastSeq };
      },
      { isolationLevel: IsolationLevel.REPEATABLE_READ, readOnly: true },
    );
  }

  /**
   * Where a subscriber that saw events up to `afterSeq` can resume from: the conversation's
   * last seq, or null when the events after `afterSeq` are no longer all there (or never were).
   */
  async resumePoint(ownerId: string, id: string, afterSeq: number): Promise<number | null> {
    const [row] = await this.#sql<{ last_seq: string; oldest: string | null }>(
      `select c.last_seq, (select min(seq) from event e where e.conversation_id = c.id) as oldest
       from conversation c where c.id = ? and c.owner_id = ?`,
      [id, ownerId],
    );
    if (!row) return null;
    const last = Number(row.last_seq);
    if (afterSeq > last) return null;
    if (afterSeq === last) return last;
    return row.oldest !== null && Number(row.oldest) <= afterSeq + 1 ? last : null;
  }

  /** Events after `afterSeq`, in order, at most `limit`. */
  async eventsAfter(conversationId: string, afterSeq: number, limit: number): Promise<SequencedEvent[]> {
    const rows = await this.#sql<{ seq: string; payload: unknown }>(
      'select seq, payload from event where conversation_id = ? and seq > ? order by seq limit ?',
      [conversationId, afterSeq, limit],
    );
    return rows.map((row) => ({ conversationId, seq: Number(row.seq), event: reviveEvent(row.payload) }));
  }

  readonly #sql = async <T>(sql: string, params: unknown[] = [], ctx?: Transaction): Promise<T[]> => {
    return this.#orm.em.getConnection().execute<T[]>(sql, params, 'all', ctx);
  };

  /** Every message of a conversation in creation order, with blocks; null if not found. */
  async messages(ownerId: string, conversationId: string): Promise<MessageRecord[] | null> {
    // One snapshot: a streaming block is completed from events that must match its row.
    return this.#em().transactional(
      async (em) => {
        const conversation = await em.findOne(ConversationEntity, { id: conversationId, ownerId }, { fields: ['id'] });
        if (!conversation) return null;
        return this.#messagesIn(em, conversationId);
      },
      { isolationLevel: IsolationLevel.REPEATABLE_READ, readOnly: true },
    );
  }

  async #messagesIn(em: EntityManager, conversationId: string): Promise<MessageRecord[]> {
    const rows = await em.find(MessageEntity, { conversation: conversationId }, { orderBy: { id: 'asc' } });
    if (rows.length === 0) return [];
    const blocks = await em.find(
      BlockEntity,
      { message: { $in: rows.map((row) => row.id) } },
      { orderBy: { message: 'asc', position: 'asc' } },
    );
    const stored = await completeBlocks(
      this.#sql,
      em.getTransactionContext(),
      blocks.map((block) => ({
        messageId: block.message.id,
        conversationId,
        position: block.position,
        content: block.content,
        streamedAfter: block.streamedAfter ?? null,
      })),
    );
    const byMessage = new Map<string, BlockContent[]>();
    for (const block of stored) {
      const list = byMessage.get(block.messageId) ?? [];
      list[block.position] = block.content;
      byMessage.set(block.messageId, list);
    }
    return rows.map((row) => toMessage(row, conversationId, byMessage.get(row.id) ?? []));
  }
}

export function toConversation(row: ConversationRow): ConversationRecord {
  return {
    id: row.id,
    ownerId: row.ownerId,
    title: row.title,
    settings: row.settings,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

export function toMessage(row: MessageRow, conversationId: string, blocks: BlockContent[]): MessageRecord {
  return {
    id: row.id,
    conversationId,
    role: row.role,
    status: row.status,
    blocks,
    error: row.error ?? null,
    replyToId: row.replyTo ?? null,
    stopReason: row.stopReason ?? null,
    model: row.model ?? null,
    usage: row.usage ?? null,
    queuePosition: row.queuePosition,
    requestId: row.requestId ?? null,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
    startedAt: row.startedAt ?? null,
    endedAt: row.endedAt ?? null,
  };
}
