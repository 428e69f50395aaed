import { defineEntity, p } from '@mikro-orm/core';
import type { MessageError, MessageStatus, Role, Usage } from '../records.ts';
import { ConversationEntity } from './conversation.ts';

export const MessageEntity = defineEntity({
  name: 'Message',
  tableName: 'message',
  properties: {
    // UUIDv7: ordering by id is ordering by creation.
    id: p.uuid().primary(),
    conversation: () => p.manyToOne(ConversationEntity).deleteRule('cascade'),
    role: p.enum(['user', 'assistant'] as const satisfies readonly Role[]),
    status: p.enum(['queued', 'processing', 'completed', 'failed', 'cancelled'] as const satisfies readonly MessageStatus[]),
    error: p.json<MessageError>().nullable(),
    replyTo: p.uuid().nullable(),
    stopReason: p.text().nullable(),
    model: p.text().nullable(),
    usage: p.json<Usage>().nullable(),
    queuePosition: p.integer().default(0),
    requestId: p.text().nullable(),
    createdAt: p.datetime().onCreate(() => new Date()),
    updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
    startedAt: p.datetime().nullable(),
    endedAt: p.datetime().nullable(),
  },
  indexes: [{ name: 'message_conversation_idx', properties: ['conversation', 'id'] }],
  uniques: [{ name: 'message_request_id_key', properties: ['conversation', 'requestId'] }],
});
