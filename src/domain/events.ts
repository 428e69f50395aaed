import type { BlockContent, ConversationRecord, MessageError, MessageRecord, Usage } from './records.ts';

/** Every change a subscriber can see: stored with the change it describes, then published. */
export type ConversationEvent =
  | { type: 'message_queued'; message: MessageRecord }
  /** The message after the change; `blocks` is always empty (blocks travel as block events). */
  | { type: 'message_status_changed'; message: MessageRecord }
  | { type: 'block_started'; messageId: string; index: number; block: BlockContent }
  | { type: 'block_delta'; messageId: string; index: number; delta: BlockDelta }
  | { type: 'block_stopped'; messageId: string; index: number; block: BlockContent }
  | { type: 'tool_call_requested'; messageId: string; toolUseId: string; name: string; input: Record<string, unknown>; kind: ToolCallKind }
  | { type: 'tool_call_started'; messageId: string; toolUseId: string }
  /** `deadline`: ISO 8601. `traceparent`: the call's span, when traced. */
  | { type: 'tool_call_awaiting_client'; messageId: string; toolUseId: string; name: string; input: Record<string, unknown>; deadline: string; traceparent?: string }
  | { type: 'tool_call_finished'; messageId: string; toolUseId: string; content: string; isError: boolean; durationMs: number }
  | { type: 'prompt_finished'; messageId: string; replyId: string; stopReason: string | null; usage: Usage | null }
  | { type: 'prompt_failed'; messageId: string; replyId: string | null; error: MessageError }
  | { type: 'conversation_updated'; conversation: ConversationRecord }
  /** Older turns were summarized for what the model is sent; token counts are estimates. */
  | { type: 'context_compacted'; messageId: string; replyId: string; throughMessageId: string; summary: string; tokensBefore: number; tokensAfter: number; usage: Usage };

export type BlockDelta = { kind: 'text' | 'thinking' | 'signature' | 'partial_json'; value: string };
/** Who answers a tool call: Parley itself, the calling service, or an MCP server. */
export type ToolCallKind = 'server' | 'client' | 'mcp';

export interface SequencedEvent {
  conversationId: string;
  seq: number;
  event: ConversationEvent;
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
