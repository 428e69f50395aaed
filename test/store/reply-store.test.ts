// ReplyStore against a real database: the fence, the end of a prompt, and giving one back.
import { ownerOf } from '../support/owner.ts';
import { beforeEach, describe, expect, it } from 'vitest';
import { useStoreFixture, type StoreFixture } from './support.ts';

const fixtureOf = useStoreFixture();
let fixture: StoreFixture;

beforeEach(() => {
  fixture = fixtureOf();
});

async function running() {
  const c = await fixture.conversation();
  const sent = await fixture.stores.queue.enqueue(ownerOf('default'), c, { text: 'q', requestId: null, maxQueued: 10 });
  if (sent.kind !== 'queued') throw new Error(sent.kind);
  const claim = await fixture.claim();
  const reply = (await fixture.stores.replies.startReply(claim, 'claude-test'))!;
  return { c, claim, reply };
}

const done = { status: 'completed' as const, error: null, stopReason: 'end_turn', usage: null };

describe('ReplyStore', () => {
  it('ends the user message and its reply together, once, and only for the attempt that holds the claim', async () => {
    const { claim, reply } = await running();
    const { replies } = fixture.stores;
    expect(await replies.finish({ ...claim, attempt: claim.attempt + 1 }, reply.id, done)).toBe(false);
    expect(await fixture.status(claim.messageId)).toBe('processing');
    expect(await replies.finish(claim, reply.id, done)).toBe(true);
    expect([await fixture.status(claim.messageId), await fixture.status(reply.id)]).toEqual(['completed', 'completed']);
    expect(await replies.finish(claim, reply.id, done)).toBe(false);
    expect(await replies.startReply(claim, 'claude-test')).toBeNull();
  });

  it('gives a prompt back: queued again, its reply failed as interrupted', async () => {
    const { claim, reply } = await running();
    expect(await fixture.stores.replies.release(claim, reply.id)).toBe(true);
    expect([await fixture.status(claim.messageId), await fixture.status(reply.id)]).toEqual(['queued', 'failed']);
    const { rows } = await fixture.sql.query('select error from message where id = $1', [reply.id]);
    expect(rows[0].error.code).toBe('interrupted');
    expect(await fixture.stores.replies.release(claim, reply.id)).toBe(false);
  });

  it('keeps a reply that waits for a client tool through a release, and the next attempt adopts it', async () => {
    const { claim, reply } = await running();
    const { replies, clientCalls } = fixture.stores;
    expect(await clientCalls.open(claim, reply.id, [{ id: 'toolu_1', name: 'lookup', input: {} }], 60_000)).toHaveLength(1);
    expect(await replies.release(claim, reply.id)).toBe(true);
    expect(await fixture.status(reply.id)).toBe('processing');
    const next = await fixture.claim();
    expect((await replies.startReply(next, 'claude-test'))?.id).toBe(reply.id);
  });
});
