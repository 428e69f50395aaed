import type { BlockContent, MessageError, MessageRecord, MessageStatus, Role, Usage } from '../domain/records.ts';

/** A `message` row as `select *` returns it. */
export interface MessageRow {
  id: string;
  conversation_id: string;
  role: Role;
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
  instance_id: string | null;
  /** W3C traceparent of the request that queued the message (user messages only). */
  trace_context: string | null;
  cancel_requested: boolean;
}

/** The record of a row; `blocks` empty unless given (status events carry none). */
export function toMessage(row: MessageRow, blocks: BlockContent[] = []): MessageRecord {
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

/** The status event of a changed message. */
export function statusChanged(row: MessageRow) {
  return { type: 'message_status_changed' as const, message: toMessage(row) };
}
