import { defineEntity, p } from '@mikro-orm/core';
import type { BlockContent } from '../../domain/records.ts';
import { MessageEntity } from './message.ts';

export const BlockEntity = defineEntity({
  name: 'Block',
  tableName: 'block',
  properties: {
    message: () => p.manyToOne(MessageEntity).primary().deleteRule('cascade'),
    position: p.integer().primary(),
    // The whole block as the API shapes it. `json`, not `jsonb`: the document is kept exactly as
    // written (jsonb would reorder a tool input's keys), and writes skip jsonb's conversion.
    content: p.json<BlockContent>().columnType('json'),
    // While a block streams, its deltas live in the event table only (rewriting the whole block
    // on every flush made long replies cost quadratic writes): `content` is the block as it
    // started, and its block_delta events after this seq complete it. Null once `content` is whole.
    streamedAfter: p.bigint('number').nullable(),
  },
  primaryKeys: ['message', 'position'],
});
