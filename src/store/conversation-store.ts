import type { EntityManager } from '@mikro-orm/postgresql';
import type { InferEntity } from '@mikro-orm/core';
import { BlockEntity, ConversationEntity, MessageEntity } from './entities/index.ts';
import { uuidv7 } from './ids.ts';
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
    const em = this.#em();
    const row = await em.findOne(ConversationEntity, { id, ownerId });
    if (!row) return null;
    if (patch.title !== undefined) row.title = patch.title;
    if (patch.settings !== undefined) row.settings = patch.settings;
    await em.flush();
    return toConversation(row);
  }

  /** Removes the conversation; its messages and blocks go with it (foreign keys cascade). */
  async delete(ownerId: string, id: string): Promise<boolean> {
    const deleted = await this.#em().nativeDelete(ConversationEntity, { id, ownerId });
    return deleted > 0;
  }

  /** Every message of a conversation in creation order, with blocks; null if not found. */
  async messages(ownerId: string, conversationId: string): Promise<MessageRecord[] | null> {
    const em = this.#em();
    const conversation = await em.findOne(ConversationEntity, { id: conversationId, ownerId }, { fields: ['id'] });
    if (!conversation) return null;
    const rows = await em.find(MessageEntity, { conversation: conversationId }, { orderBy: { id: 'asc' } });
    if (rows.length === 0) return [];
    const blocks = await em.find(
      BlockEntity,
      { message: { $in: rows.map((row) => row.id) } },
      { orderBy: { message: 'asc', position: 'asc' } },
    );
    const byMessage = new Map<string, BlockContent[]>();
    for (const block of blocks) {
      const id = block.message.id;
      const list = byMessage.get(id) ?? [];
      list[block.position] = block.content;
      byMessage.set(id, list);
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
