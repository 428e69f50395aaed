import { contextPolicyOf } from '../domain/context-policy.ts';
import { thinkingOf } from '../domain/model-thinking.ts';
import { uuidv7 } from '../domain/ids.ts';
import type { ConversationRecord, ConversationSettings, Owner } from '../domain/records.ts';
import { CANCEL_CHANNEL, EVENTS_CHANNEL } from './channels.ts';
import type { Database, Sql } from './database.ts';
import { appendEvents, notify, type EventNotice } from './event-log.ts';

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
  subject_id: string | null;
  title: string;
  settings: ConversationSettings;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS = 'id, owner_id, subject_id, title, settings, created_at, updated_at';

/**
 * Conversations themselves: create, read, list, change, delete. Every method takes the owner:
 * a conversation of another owner is indistinguishable from one that does not exist. Every
 * statement binds its values (the ORM's entity API inlines them into the SQL text, which puts
 * user content in the database's error log when a statement fails); the entities describe the
 * table for the migrations.
 */
export class ConversationStore {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  async create(owner: Owner, input: NewConversation): Promise<ConversationRecord> {
    return insertConversation(this.#db, owner, input);
  }

  /**
   * Creates the conversation only while the tenant holds fewer than `maxPerTenant` (null
   * otherwise): the count and the insert share a transaction holding the tenant's lock, so
   * concurrent creates on any instance cannot pass the limit.
   */
  async createWithin(owner: Owner, input: NewConversation, maxPerTenant: number): Promise<ConversationRecord | null> {
    return this.#db.transaction(async (tx) => ((await hasRoomForConversation(tx, owner.tenantId, maxPerTenant)) ? insertConversation(tx, owner, input) : null));
  }

  async get(owner: Owner, id: string): Promise<ConversationRecord | null> {
    const [row] = await this.#db.query<ConversationRow>(`select ${COLUMNS} from conversation where id = $1 and ${OWNED_BY('$2', '$3')}`, [id, owner.tenantId, owner.subjectId]);
    return row ? fromRow(row) : null;
  }

  /** Newest first. Keyset on the time-ordered id, so inserts never shift later pages. */
  async list(owner: Owner, limit: number, afterId: string | null): Promise<ConversationPage> {
    const rows = await this.#db.query<ConversationRow>(
      `select ${COLUMNS} from conversation where ${OWNED_BY('$1', '$2')} and ($3::uuid is null or id < $3::uuid) order by id desc limit $4`,
      [owner.tenantId, owner.subjectId, afterId, limit + 1],
    );
    const page = rows.slice(0, limit).map(fromRow);
    return { conversations: page, nextAfterId: rows.length > limit ? (page.at(-1)?.id ?? null) : null };
  }

  async update(owner: Owner, id: string, patch: ConversationPatch): Promise<ConversationRecord | null> {
    return this.#db.transaction(async (tx) => {
      const [row] = await tx.query<ConversationRow>(
        `update conversation set title = coalesce($3, title), settings = coalesce($4::jsonb, settings),
           -- Only a real change moves updated_at (an empty or same-value patch still emits its event).
           updated_at = case when coalesce($3, title) is distinct from title or coalesce($4::jsonb, settings) is distinct from settings
                             then now() else updated_at end
         where id = $1 and ${OWNED_BY('$2', '$5')} returning id, owner_id, subject_id, title, settings, created_at, updated_at`,
        [id, owner.tenantId, patch.title ?? null, patch.settings === undefined ? null : JSON.stringify(patch.settings), owner.subjectId],
      );
      if (!row) return null;
      const conversation = fromRow(row);
      await appendEvents(tx, id, [{ type: 'conversation_updated', conversation }]);
      return conversation;
    });
  }

  /** Removes the conversation; its messages, blocks and events go with it (foreign keys cascade). */
  async delete(owner: Owner, id: string): Promise<boolean> {
    return this.#db.transaction(async (tx) => {
      // A running prompt of this conversation stops now rather than at its next lease renewal.
      const running = await tx.query<{ id: string }>(
        `select m.id from message m join conversation c on c.id = m.conversation_id
         where c.id = $1 and ${OWNED_BY('$2', '$3', 'c')} and m.role = 'user' and m.status = 'processing'`,
        [id, owner.tenantId, owner.subjectId],
      );
      const deleted = await tx.query(`delete from conversation where id = $1 and ${OWNED_BY('$2', '$3')} returning id`, [id, owner.tenantId, owner.subjectId]);
      if (deleted.length === 0) return false;
      for (const message of running) await notify(tx, CANCEL_CHANNEL, message.id);
      await notify(tx, EVENTS_CHANNEL, JSON.stringify({ conversationId: id, from: 0, to: 0, deleted: true } satisfies EventNotice));
      return true;
    });
  }
}

/**
 * Whether the tenant holds fewer than `max` conversations, holding its lock until the
 * transaction ends, so that concurrent creates (and forks) on any instance cannot pass the limit.
 */
export async function hasRoomForConversation(tx: Sql, tenantId: string, max: number): Promise<boolean> {
  await tx.query(`select pg_advisory_xact_lock(hashtextextended('parley.conversations:' || $1, 0))`, [tenantId]);
  const [held] = await tx.query<{ count: string }>('select count(*) from conversation where owner_id = $1', [tenantId]);
  return Number(held?.count ?? 0) < max;
}

async function insertConversation(sql: Sql, owner: Owner, input: NewConversation): Promise<ConversationRecord> {
  const [row] = await sql.query<ConversationRow>(
    `insert into conversation (id, owner_id, subject_id, title, settings, created_at, updated_at)
     values ($1, $2, $3, $4, $5, now(), now()) returning ${COLUMNS}`,
    [uuidv7(), owner.tenantId, owner.subjectId, input.title, JSON.stringify(input.settings)],
  );
  return fromRow(row!);
}

/**
 * The condition that a conversation row (alias `alias`) belongs to the owner whose tenant and
 * subject are the parameters `tenant` and `subject` (subject null: any of the tenant's). Every
 * read and write of a conversation's data goes through it.
 */
export function OWNED_BY(tenant: string, subject: string, alias?: string): string {
  const column = (name: string) => (alias ? `${alias}.${name}` : name);
  return `${column('owner_id')} = ${tenant} and (${subject}::text is null or ${column('subject_id')} = ${subject}::text)`;
}

export function fromRow(row: ConversationRow): ConversationRecord {
  return { id: row.id, ownerId: row.owner_id, subjectId: row.subject_id, title: row.title, settings: { ...row.settings, context: contextPolicyOf(row.settings.context), thinking: thinkingOf(row.settings.thinking) }, createdAt: new Date(row.created_at), updatedAt: new Date(row.updated_at) };
}
