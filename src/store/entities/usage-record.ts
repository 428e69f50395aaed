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
  uniques: [{ name: 'usage_record_request_key', properties: ['replyId', 'attempt', 'round'] }],
});
