import { defineEntity, p } from '@mikro-orm/core';
import { ConversationEntity } from './conversation.ts';

export const EventEntity = defineEntity({
  name: 'Event',
  tableName: 'event',
  properties: {
    conversation: () => p.manyToOne(ConversationEntity).primary().deleteRule('cascade'),
    seq: p.bigint('number').primary(),
    // The event as the engine describes it (src/store/events.ts); `json`, kept as written.
    payload: p.json<Record<string, unknown>>().columnType('json'),
    // Retention prunes by age.
    createdAt: p.datetime().onCreate(() => new Date()),
  },
  primaryKeys: ['conversation', 'seq'],
  indexes: [{ name: 'event_created_idx', properties: ['createdAt'] }],
});
