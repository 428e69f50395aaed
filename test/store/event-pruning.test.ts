// Event retention against a real database: events past the horizon are deleted oldest first, a
// batch at a time, until none is left; newer ones stay; resuming from before the oldest kept
// event answers with a snapshot instead of a replay with a gap.
import { ownerOf } from '../support/owner.ts';
import { beforeEach, describe, expect, it } from 'vitest';
import { EventPruner } from '../../src/engine/event-pruner.ts';
import { createLogger } from '../../src/logger.ts';
import { useStoreFixture, type StoreFixture } from './support.ts';

const fixtureOf = useStoreFixture();
let fixture: StoreFixture;

beforeEach(() => {
  fixture = fixtureOf();
});

async function seqs(conversationId: string): Promise<number[]> {
  const { rows } = await fixture.sql.query<{ seq: string }>('select seq from event where conversation_id = $1 order by seq', [conversationId]);
  return rows.map((row) => Number(row.seq));
}

describe('event pruning', () => {
  it('deletes events past the horizon in batches, keeps the newer ones, and resuming from a pruned seq gets a snapshot', async () => {
    const conversation = await fixture.conversation();
    for (let i = 0; i < 7; i++) await fixture.stores.queue.enqueue(ownerOf('default'), conversation, { text: `m${i}`, requestId: null, maxQueued: 100 });
    const all = await seqs(conversation);
    expect(all).toHaveLength(7);
    // The first five are two days old.
    await fixture.sql.query(`update event set created_at = now() - interval '2 days' where conversation_id = $1 and seq <= $2`, [conversation, all[4]]);

    expect(await fixture.stores.eventPruning.prune(86_400_000, 2)).toBe(2);
    expect(await seqs(conversation)).toEqual(all.slice(2));
    const pruner = new EventPruner(fixture.stores.eventPruning, { horizonMs: 86_400_000, everyMs: 60_000, batch: 2 }, createLogger('silent'));
    expect(await pruner.pruneNow()).toBe(3);
    expect(await seqs(conversation)).toEqual(all.slice(5));
    expect(await pruner.pruneNow()).toBe(0);

    const owner = ownerOf('default');
    // From before the oldest kept event: no replay (a snapshot instead); from the last kept one: a replay.
    expect(await fixture.stores.snapshots.resumePoint(owner, conversation, all[1]!)).toBeNull();
    expect(await fixture.stores.snapshots.resumePoint(owner, conversation, all[4]!)).toBe(all.at(-1));
    expect(await fixture.stores.snapshots.resumePoint(owner, conversation, all.at(-1)!)).toBe(all.at(-1));
    await pruner.stop();
  });
});
