import type { Transaction } from '@mikro-orm/core';
import { EVENTS_CHANNEL } from './channels.ts';
import type { BlockContent, ConversationRecord, MessageError, MessageRecord, Usage } from './records.ts';

/** Every change a subscriber can see, as the store records it. */
export type ConversationEvent =
  | { type: 'message_queued'; message: MessageRecord }
  /** The message after the change; `blocks` is always empty (blocks travel as block events). */
  | { type: 'message_status_changed'; message: MessageRecord }
  | { type: 'block_started'; messageId: string; index: number; block: BlockContent }
  | { type: 'block_delta'; messageId: string; index: number; delta: BlockDelta }
  | { type: 'block_stopped'; messageId: string; index: number; block: BlockContent }
  | { type: 'tool_call_requested'; messageId: string; toolUseId: string; name: string; input: Record<string, unknown>; kind: ToolKind }
  | { type: 'tool_call_started'; messageId: string; toolUseId: string }
  /** `deadline`: ISO 8601. */
  | { type: 'tool_call_awaiting_client'; messageId: string; toolUseId: string; name: string; input: Record<string, unknown>; deadline: string }
  | { type: 'tool_call_finished'; messageId: string; toolUseId: string; content: string; isError: boolean; durationMs: number }
  | { type: 'prompt_finished'; messageId: string; replyId: string; stopReason: string | null; usage: Usage | null }
  | { type: 'prompt_failed'; messageId: string; replyId: string | null; error: MessageError }
  | { type: 'conversation_updated'; conversation: ConversationRecord };

export type BlockDelta = { kind: 'text' | 'thinking' | 'signature' | 'partial_json'; value: string };
export type ToolKind = 'server' | 'client' | 'mcp';

export interface SequencedEvent {
  conversationId: string;
  seq: number;
  event: ConversationEvent;
}


/**
 * What a notification carries. Events ride along when they fit PostgreSQL's 8000-byte NOTIFY
 * payload limit; otherwise a listener reads them from the event table by seq. Built here by
 * appendEvents and, for reply writes, in SQL by PromptStore.writeBlocks: change both together.
 */
export interface EventNotice {
  conversationId: string;
  from: number;
  to: number;
  events?: ConversationEvent[];
  /** The conversation was deleted: its subscribers end. */
  deleted?: boolean;
}

/** Bytes of UTF-8, with room to spare under PostgreSQL's 8000. */
export const NOTIFY_LIMIT = 7_500;

type Sql = <T>(sql: string, params: unknown[], ctx: Transaction) => Promise<T[]>;

/**
 * Appends events inside the caller's transaction, so that an event exists exactly when the
 * change it describes does (persist before publish): seqs come from the conversation row, which
 * the update locks until commit, and the notification is delivered only on commit.
 */
export async function appendEvents(
  sql: Sql,
  ctx: Transaction,
  conversationId: string,
  events: ConversationEvent[],
): Promise<SequencedEvent[]> {
  if (events.length === 0) return [];
  const [row] = await sql<{ last_seq: string | number }>(
    'update conversation set last_seq = last_seq + ? where id = ? returning last_seq',
    [events.length, conversationId],
    ctx,
  );
  if (!row) return [];
  const to = Number(row.last_seq);
  const from = to - events.length + 1;
  const encoded = events.map((event) => JSON.stringify(event));
  await sql(
    `insert into event (conversation_id, seq, payload, created_at)
     select ?, ? + e.ordinality - 1, e.value, now()
     from json_array_elements(?::json) with ordinality as e(value, ordinality)`,
    [conversationId, from, `[${encoded.join(',')}]`],
    ctx,
  );
  const inline: EventNotice = { conversationId, from, to, events };
  const text = JSON.stringify(inline);
  // The limit is in bytes: text that is not ASCII takes up to 3 bytes per UTF-16 unit.
  const notice = Buffer.byteLength(text) <= NOTIFY_LIMIT ? text : JSON.stringify({ conversationId, from, to } satisfies EventNotice);
  await sql('select pg_notify(?, ?)', [EVENTS_CHANNEL, notice], ctx);
  return events.map((event, i) => ({ conversationId, seq: from + i, event }));
}

/** Events carry records with dates; JSON turns those into strings, which this turns back. */
export function reviveEvent(raw: unknown): ConversationEvent {
  const event = (typeof raw === 'string' ? JSON.parse(raw) : raw) as ConversationEvent;
  if (event.type === 'message_queued' || event.type === 'message_status_changed') {
    return { ...event, message: reviveMessage(event.message) };
  }
  if (event.type === 'conversation_updated') {
    return {
      ...event,
      conversation: { ...event.conversation, createdAt: new Date(event.conversation.createdAt), updatedAt: new Date(event.conversation.updatedAt) },
    };
  }
  return event;
}

function reviveMessage(message: MessageRecord): MessageRecord {
  const date = (value: Date | string | null) => (value === null ? null : new Date(value));
  return {
    ...message,
    createdAt: new Date(message.createdAt),
    updatedAt: new Date(message.updatedAt),
    startedAt: date(message.startedAt),
    endedAt: date(message.endedAt),
  };
}

/** A message record as a status event carries it: without blocks. */
export function withoutBlocks(message: MessageRecord): MessageRecord {
  return { ...message, blocks: [] };
}
