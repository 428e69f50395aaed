import { defineEntity, p } from '@mikro-orm/core';
import type { ConversationSettings } from '../../domain/records.ts';

export const ConversationEntity = defineEntity({
  name: 'Conversation',
  tableName: 'conversation',
  properties: {
    // UUIDv7: time-ordered, so the primary key doubles as the listing order.
    id: p.uuid().primary(),
    // The tenant. Every query filters on it, so authentication can map callers to owners later
    // without touching the engine.
    ownerId: p.text(),
    // The end user inside the tenant that created it (a subject-scoped token), else null.
    subjectId: p.text().nullable(),
    title: p.text(),
    // Read and written as a whole with the conversation; never queried into.
    settings: p.json<ConversationSettings>(),
    // Sequence number of the conversation's last event. Allocating under this row's lock gives
    // gapless, strictly increasing numbers across instances and restarts.
    lastSeq: p.bigint('number').default(0),
    createdAt: p.datetime().onCreate(() => new Date()),
    updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
  },
  indexes: [
    { name: 'conversation_owner_listing_idx', properties: ['ownerId', 'id'] },
    // A subject's listing.
    { name: 'conversation_subject_listing_idx', properties: ['ownerId', 'subjectId', 'id'] },
  ],
});
