import { defineEntity, p } from '@mikro-orm/core';
import { ConversationEntity } from './conversation.ts';
import { MessageEntity } from './message.ts';

/**
 * A summary that stands for a conversation's exchanges up to one user message in what the
 * model is sent (context management). The messages it covers stay stored as they are; the
 * latest compaction of a conversation is the one the history builder uses.
 */
export const CompactionEntity = defineEntity({
  name: 'Compaction',
  tableName: 'compaction',
  properties: {
    id: p.uuid().primary(),
    conversation: () => p.manyToOne(ConversationEntity).deleteRule('cascade'),
    // The newest user message whose exchange the summary covers.
    throughMessage: () => p.manyToOne(MessageEntity).deleteRule('cascade'),
    // The reply whose prompt made it.
    reply: () => p.manyToOne(MessageEntity).deleteRule('cascade'),
    summary: p.text(),
    model: p.text(),
    tokensBefore: p.integer(),
    tokensAfter: p.integer(),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
  indexes: [{ name: 'compaction_conversation_idx', properties: ['conversation', 'createdAt'] }],
});
