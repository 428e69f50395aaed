import { defineEntity, p } from '@mikro-orm/core';

/**
 * One model request (an attempt's tool round) and the usage the API reported for it. Not tied to
 * the conversation by a foreign key: usage outlives a deleted conversation, for billing.
 */
export const UsageRecordEntity = defineEntity({
  name: 'UsageRecord',
  tableName: 'usage_record',
  properties: {
    id: p.uuid().primary(),
    tenantId: p.text(),
    subjectId: p.text().nullable(),
    conversationId: p.uuid(),
    // The user message answered, the reply written, and which attempt and round of it.
    messageId: p.uuid(),
    replyId: p.uuid(),
    attempt: p.integer(),
    round: p.integer(),
    // What the request was for: the reply itself, or a compaction of the history before it.
    purpose: p.enum(['reply', 'compaction'] as const).default('reply'),
    model: p.text(),
    inputTokens: p.integer(),
    outputTokens: p.integer(),
    cacheCreationInputTokens: p.integer(),
    cacheReadInputTokens: p.integer(),
    webSearchRequests: p.integer().default(0),
    stopReason: p.text().nullable(),
    startedAt: p.datetime(),
    endedAt: p.datetime(),
  },
  indexes: [{ name: 'usage_record_tenant_time_idx', properties: ['tenantId', 'endedAt'] }],
  // A retried write of the same model request lands once.
  // (Its compactions are not keyed: each is written once, in the transaction that stores it.)
  uniques: [{ name: 'usage_record_request_key', expression: `create unique index "usage_record_request_key" on "usage_record" ("reply_id", "attempt", "round") where "purpose" = 'reply'` }],
});
