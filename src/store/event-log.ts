import type { ConversationEvent, SequencedEvent } from '../domain/events.ts';
import { EVENTS_CHANNEL } from './channels.ts';
import type { Sql } from './database.ts';

/**
 * What a notification carries. Events ride along when they fit PostgreSQL's 8000-byte NOTIFY
 * payload limit; otherwise a listener reads them from the event table by seq. Built here by
 * appendEvents and, for reply writes, in SQL by ReplyStore.writeBlocks: change both together.
 */
export interface EventNotice {
  conversationId: string;
  from: number;
  to: number;
  events?: ConversationEvent[];
  /** When the events were stored (ms since the epoch, the writer's clock): for delivery lag. */
  at?: number;
  /** The conversation was deleted: its subscribers end. */
  deleted?: boolean;
}

/** Bytes of UTF-8, with room to spare under PostgreSQL's 8000. */
export const NOTIFY_LIMIT = 7_500;

/**
 * Appends events inside the caller's transaction, so that an event exists exactly when the
 * change it describes does (persist before publish): seqs come from the conversation row, which
 * the update locks until commit, and the notification is delivered only on commit.
 */
export async function appendEvents(tx: Sql, conversationId: string, events: ConversationEvent[]): Promise<SequencedEvent[]> {
  if (events.length === 0) return [];
  const [row] = await tx.query<{ last_seq: string }>('update conversation set last_seq = last_seq + $1 where id = $2 returning last_seq', [
    events.length,
    conversationId,
  ]);
  if (!row) return [];
  const to = Number(row.last_seq);
  const from = to - events.length + 1;
  const encoded = `[${events.map((event) => JSON.stringify(event)).join(',')}]`;
  await tx.query(
    `insert into event (conversation_id, seq, payload, created_at)
     select $1, $2::bigint + e.ordinality - 1, e.value, now()
     from json_array_elements($3::json) with ordinality as e(value, ordinality)`,
    [conversationId, from, encoded],
  );
  const at = Date.now();
  const inline = JSON.stringify({ conversationId, from, to, at, events } satisfies EventNotice);
  // The limit is in bytes: text that is not ASCII takes up to 3 bytes per UTF-16 unit.
  const notice = Buffer.byteLength(inline) <= NOTIFY_LIMIT ? inline : JSON.stringify({ conversationId, from, to, at } satisfies EventNotice);
  await notify(tx, EVENTS_CHANNEL, notice);
  return events.map((event, i) => ({ conversationId, seq: from + i, event }));
}

/** Sends a notification, delivered when the transaction commits (at once outside one). */
export async function notify(tx: Sql, channel: string, payload: string): Promise<void> {
  await tx.query('select pg_notify($1, $2)', [channel, payload]);
}
