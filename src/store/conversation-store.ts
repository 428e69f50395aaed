import type { EntityManager } from '@mikro-orm/postgresql';
import type { InferEntity } from '@mikro-orm/core';
import { uuidv7 } from '../domain/ids.ts';
import type { ConversationRecord, ConversationSettings } from '../domain/records.ts';
import { CANCEL_CHANNEL, EVENTS_CHANNEL } from './channels.ts';
import type { Database } from './database.ts';
import { ConversationEntity } from './entities/index.ts';
import { appendEvents, notify, type EventNotice } from './event-log.ts';
import type { Orm } from './orm.ts';

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

export interface ConversationRow {
  id: string;
  owner_id: string;
  title: string;
  settings: ConversationSettings;
  created_at: Date;
  updated_at: Date;
}

/**
 * Conversations themselves: create, read, list, change, delete. Every method takes the owner:
 * a conversation of another owner is indistinguishable from one that does not exist. Plain
 * reads and the insert use MikroORM's entity API; writes that append an event share a
 * transaction with it, so they go through the database seam.
 */
export class ConversationStore {
  readonly #orm: Orm;
  readonly #db: Database;

  constructor(orm: Orm, db: Database) {
    this.#orm = orm;
    this.#db = db;
  }

  #em(): EntityManager {
    return this.#orm.em.fork();
  }

  async create(ownerId: string, input: NewConversation): Promise<ConversationRecord> {
    const em = this.#em();
    const row = em.create(ConversationEntity, { id: uuidv7(), ownerId, title: input.title, settings: input.settings });
    await em.flush();
    return fromEntity(row);
  }

  async get(ownerId: string, id: string): Promise<ConversationRecord | null> {
    const row = await this.#em().findOne(ConversationEntity, { id, ownerId });
    return row ? fromEntity(row) : null;
  }

  /** Newest first. Keyset on the time-ordered id, so inserts never shift later pages. */
  async list(ownerId: string, limit: number, afterId: string | null): Promise<ConversationPage> {
    const rows = await this.#em().find(ConversationEntity, afterId === null ? { ownerId } : { ownerId, id: { $lt: afterId } }, {
      orderBy: { id: 'desc' },
      limit: limit + 1,
    });
    const page = rows.slice(0, limit);
    return { conversations: page.map(fromEntity), nextAfterId: rows.length > limit ? (page.at(-1)?.id ?? null) : null };
  }

  async update(ownerId: string, id: string, patch: ConversationPatch): Promise<ConversationRecord | null> {
    return this.#db.transaction(async (tx) => {
      const [row] = await tx.query<ConversationRow>(
        `update conversation set title = coalesce($3, title), settings = coalesce($4::jsonb, settings),
           -- Only a real change moves updated_at (an empty or same-value patch still emits its event).
           updated_at = case when coalesce($3, title) is distinct from title or coalesce($4::jsonb, settings) is distinct from settings
                             then now() else updated_at end
         where id = $1 and owner_id = $2 returning id, owner_id, title, settings, created_at, updated_at`,
        [id, ownerId, patch.title ?? null, patch.settings === undefined ? null : JSON.stringify(patch.settings)],
      );
      if (!row) return null;
      const conversation = fromRow(row);
      await appendEvents(tx, id, [{ type: 'conversation_updated', conversation }]);
      return conversation;
    });
  }

  /** Removes the conversation; its messages, blocks and events go with it (foreign keys cascade). */
  async delete(ownerId: string, id: string): Promise<boolean> {
    return this.#db.transaction(async (tx) => {
      // A running prompt of this conversation stops now rather than at its next lease renewal.
      const running = await tx.query<{ id: string }>(
        `select m.id from message m join conversation c on c.id = m.conversation_id
         where c.id = $1 and c.owner_id = $2 and m.role = 'user' and m.status = 'processing'`,
        [id, ownerId],
      );
      const deleted = await tx.query('delete from conversation where id = $1 and owner_id = $2 returning id', [id, ownerId]);
      if (deleted.length === 0) return false;
      for (const message of running) await notify(tx, CANCEL_CHANNEL, message.id);
      await notify(tx, EVENTS_CHANNEL, JSON.stringify({ conversationId: id, from: 0, to: 0, deleted: true } satisfies EventNotice));
      return true;
    });
  }
}

export function fromRow(row: ConversationRow): ConversationRecord {
  return { id: row.id, ownerId: row.owner_id, title: row.title, settings: row.settings, createdAt: new Date(row.created_at), updatedAt: new Date(row.updated_at) };
}

function fromEntity(row: InferEntity<typeof ConversationEntity>): ConversationRecord {
  return { id: row.id, ownerId: row.ownerId, title: row.title, settings: row.settings, createdAt: row.createdAt, updatedAt: row.updatedAt };
}
