import { defineEntity, p } from '@mikro-orm/core';
import type { MessageError, MessageStatus, Role, Usage } from '../../domain/records.ts';
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
    // Fencing token: incremented each time the queue claims a user message; an assistant
    // message carries the attempt that wrote it. Every write of a prompt checks it, so a stalled
    // old attempt can never overwrite its replacement.
    attempt: p.integer().default(0),
    // The instance that ran the latest attempt (a user message) or this one (an assistant
    // message): PARLEY_INSTANCE_ID, as on that instance's log lines.
    instanceId: p.text().nullable(),
    // W3C traceparent of the request that queued or retried a user message: the prompt's span
    // links to it (docs/operations.md, Traces).
    traceContext: p.text().nullable(),
    // A processing user message is held by the instance running it until this time; the holder
    // renews it, and anyone may requeue the message once it has passed.
    leaseExpiresAt: p.datetime().nullable(),
    // Set by CancelPrompt on a running prompt. The running instance sees it (notification, or its
    // next lease renewal) and stops; lease recovery cancels instead of retrying.
    cancelRequested: p.boolean().default(false),
  },
  indexes: [
    { name: 'message_conversation_idx', properties: ['conversation', 'id'] },
    // The queue scans queued user messages oldest first.
    { name: 'message_queued_idx', expression: `create index "message_queued_idx" on "message" ("id") where "role" = 'user' and "status" = 'queued'` },
    // Lease recovery finds expired leases without scanning finished messages.
    {
      name: 'message_lease_idx',
      expression: `create index "message_lease_idx" on "message" ("lease_expires_at") where "role" = 'user' and "status" = 'processing'`,
    },
    // Invariant: at most one active prompt per conversation, whatever any instance does.
    {
      name: 'message_one_active_prompt_key',
      expression: `create unique index "message_one_active_prompt_key" on "message" ("conversation_id") where "role" = 'user' and "status" = 'processing'`,
    },
  ],
  uniques: [{ name: 'message_request_id_key', properties: ['conversation', 'requestId'] }],
});
