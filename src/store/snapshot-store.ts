import type { SequencedEvent } from '../domain/events.ts';
import { reviveEvent } from '../domain/events.ts';
import type { AwaitingClientCall, ConversationSnapshot, MessageRecord, Owner } from '../domain/records.ts';
import { fromRow, OWNED_BY, type ConversationRow } from './conversation-store.ts';
import type { Database, Sql } from './database.ts';
import { toMessage, type MessageRow } from './message-rows.ts';
import { readBlocks } from './streamed-blocks.ts';

/**
 * Reads of a conversation as subscribers and prompts see it: the whole state at one seq, its
 * messages, and its events by seq. State is read in one repeatable-read snapshot, because a
 * streaming block is completed from events that must match its row.
 */
export class SnapshotStore {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  /** The conversation, its messages with their blocks, its open client calls and the seq all of it reflects. */
  async snapshot(owner: Owner, id: string): Promise<ConversationSnapshot | null> {
    return this.#db.transaction(
      async (tx) => {
        const [conversation] = await tx.query<ConversationRow & { last_seq: string }>(
          `select id, owner_id, subject_id, title, settings, created_at, updated_at, last_seq from conversation where id = $1 and ${OWNED_BY('$2', '$3')}`,
          [id, owner.tenantId, owner.subjectId],
        );
        if (!conversation) return null;
        const messages = await messagesOf(tx, id);
        const waiting = await tx.query<{ tool_use_id: string; message_id: string; name: string; deadline: Date }>(
          `select tool_use_id, message_id, name, deadline from client_tool_call
           where conversation_id = $1 and status = 'awaiting' order by created_at`,
          [id],
        );
        const awaitingClient = waiting.map((row): AwaitingClientCall => {
          const use = messages.find((m) => m.id === row.message_id)?.blocks.find((b) => b.type === 'tool_use' && b.id === row.tool_use_id);
          return { messageId: row.message_id, toolUseId: row.tool_use_id, name: row.name, input: use?.type === 'tool_use' ? use.input : {}, deadline: new Date(row.deadline) };
        });
        return { conversation: fromRow(conversation), messages, awaitingClient, seq: Number(conversation.last_seq) };
      },
      { repeatableRead: true, readOnly: true },
    );
  }

  /** Every message of a conversation in creation order, with blocks; null if not found. */
  async messages(owner: Owner, conversationId: string): Promise<MessageRecord[] | null> {
    return this.#db.transaction(
      async (tx) => {
        const found = await tx.query(`select 1 from conversation where id = $1 and ${OWNED_BY('$2', '$3')}`, [conversationId, owner.tenantId, owner.subjectId]);
        return found.length === 0 ? null : messagesOf(tx, conversationId);
      },
      { repeatableRead: true, readOnly: true },
    );
  }

  /**
   * Where a subscriber that saw events up to `afterSeq` can resume from: the conversation's
   * last seq, or null when the events after `afterSeq` are no longer all there (or never were).
   */
  async resumePoint(owner: Owner, id: string, afterSeq: number): Promise<number | null> {
    const [row] = await this.#db.query<{ last_seq: string; oldest: string | null }>(
      `select c.last_seq, (select min(seq) from event e where e.conversation_id = c.id) as oldest
       from conversation c where c.id = $1 and ${OWNED_BY('$2', '$3', 'c')}`,
      [id, owner.tenantId, owner.subjectId],
    );
    if (!row) return null;
    const last = Number(row.last_seq);
    if (afterSeq > last) return null;
    if (afterSeq === last) return last;
    return row.oldest !== null && Number(row.oldest) <= afterSeq + 1 ? last : null;
  }

  /** Events after `afterSeq`, in order, at most `limit`. */
  async eventsAfter(conversationId: string, afterSeq: number, limit: number): Promise<SequencedEvent[]> {
    const rows = await this.#db.query<{ seq: string; payload: unknown }>(
      'select seq, payload from event where conversation_id = $1 and seq > $2 order by seq limit $3',
      [conversationId, afterSeq, limit],
    );
    return rows.map((row) => ({ conversationId, seq: Number(row.seq), event: reviveEvent(row.payload) }));
  }
}

async function messagesOf(tx: Sql, conversationId: string): Promise<MessageRecord[]> {
  const rows = await tx.query<MessageRow>('select * from message where conversation_id = $1 order by id', [conversationId]);
  const blocks = await readBlocks(tx, rows.map((row) => row.id));
  return rows.map((row) => toMessage(row, blocks.get(row.id) ?? []));
}
