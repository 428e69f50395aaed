// QueueStore against a real database: one behaviour of the queue per case.
import { ownerOf } from '../support/owner.ts';
import { beforeEach, describe, expect, it } from 'vitest';
import { useStoreFixture, type StoreFixture } from './support.ts';

const fixtureOf = useStoreFixture();
let fixture: StoreFixture;

beforeEach(() => {
  fixture = fixtureOf();
});

async function send(conversationId: string, text = 'hello', requestId: string | null = null, maxQueued = 10) {
  return fixture.stores.queue.enqueue(ownerOf('default'), conversationId, { text, requestId, maxQueued });
}

async function sent(conversationId: string, text = 'hello'): Promise<string> {
  const result = await send(conversationId, text);
  if (result.kind !== 'queued') throw new Error(result.kind);
  return result.message.id;
}

describe('QueueStore', () => {
  it('queues with positions, refuses past the limit, and finds the first message again by request id', async () => {
    const c = await fixture.conversation();
    const first = await send(c, 'one', 'r-1', 2);
    expect(first).toMatchObject({ kind: 'queued', created: true, message: { status: 'queued', queuePosition: 0 } });
    expect(await send(c, 'two', null, 2)).toMatchObject({ kind: 'queued', message: { queuePosition: 1 } });
    expect(await send(c, 'three', null, 2)).toEqual({ kind: 'queue_full', limit: 2 });
    const again = await send(c, 'one', 'r-1', 2);
    expect(again).toMatchObject({ kind: 'queued', created: false });
    expect(again.kind === 'queued' && again.message.id).toBe(first.kind === 'queued' && first.message.id);
    expect(await send(c, 'other text', 'r-1', 2)).toMatchObject({ kind: 'request_id_reused' });
    expect(await fixture.stores.queue.enqueue(ownerOf('someone-else'), c, { text: 'x', requestId: null, maxQueued: 10 })).toEqual({ kind: 'not_found' });
  });

  it('claims oldest first, one active prompt per conversation, and says when nothing is claimable', async () => {
    const a = await fixture.conversation();
    const b = await fixture.conversation();
    const a1 = await sent(a);
    await sent(a);
    const b1 = await sent(b);
    expect((await fixture.claim()).messageId).toBe(a1);
    // a's second message waits for a1: b's is next.
    expect((await fixture.claim()).messageId).toBe(b1);
    expect(await fixture.stores.queue.claimNext(60_000)).toEqual({ kind: 'empty' });
    expect(await fixture.status(a1)).toBe('processing');
  });

  it('cancels a queued message at once, flags a running one without changing its status, and refuses an ended one', async () => {
    const c = await fixture.conversation();
    const running = await sent(c);
    const queued = await sent(c);
    const claim = await fixture.claim();
    const { queue, replies } = fixture.stores;
    expect(await queue.cancel(ownerOf('default'), c, queued)).toMatchObject({ kind: 'ok', message: { status: 'cancelled', error: { code: 'cancelled' } } });
    expect(await queue.cancel(ownerOf('default'), c, running)).toMatchObject({ kind: 'ok', message: { status: 'processing' } });
    const [lease] = await queue.renewLeases([claim], 60_000);
    expect(lease).toEqual({ messageId: running, held: true, cancelRequested: true });
    await replies.finish(claim, null, { status: 'completed', error: null, stopReason: 'end_turn', usage: null });
    expect(await queue.cancel(ownerOf('default'), c, running)).toEqual({ kind: 'wrong_status', status: 'completed' });
  });

  it('retries a failed or cancelled message in its place, and nothing else', async () => {
    const c = await fixture.conversation();
    const first = await sent(c);
    const second = await sent(c);
    const { queue } = fixture.stores;
    expect(await queue.requeue(ownerOf('default'), c, first)).toEqual({ kind: 'wrong_status', status: 'queued' });
    await queue.cancel(ownerOf('default'), c, first);
    const retried = await queue.requeue(ownerOf('default'), c, first);
    expect(retried).toMatchObject({ kind: 'ok', message: { status: 'queued', error: null, queuePosition: 0 } });
    // Its place is by id: it runs before the message sent after it.
    expect((await fixture.claim()).messageId).toBe(first);
    expect(await fixture.status(second)).toBe('queued');
  });

  it('reports a lease taken over as lost', async () => {
    const c = await fixture.conversation();
    await sent(c);
    const claim = await fixture.claim();
    const stale = { ...claim, attempt: claim.attempt - 1 };
    expect(await fixture.stores.queue.renewLeases([stale], 60_000)).toEqual([{ messageId: claim.messageId, held: false, cancelRequested: false }]);
  });

  it('recovers an expired lease: queued again, failed after the last attempt, cancelled when asked, and the dead reply failed', async () => {
    const c = await fixture.conversation();
    const id = await sent(c);
    const { queue, replies } = fixture.stores;
    const first = await fixture.claim();
    const reply = (await replies.startReply(first, 'claude-test'))!;
    await fixture.expireLease(id);
    expect(await queue.recoverExpiredLeases(2)).toBe(1);
    expect(await fixture.status(id)).toBe('queued');
    expect(await fixture.status(reply.id)).toBe('failed');
    const { rows } = await fixture.sql.query('select error from message where id = $1', [reply.id]);
    expect(rows[0].error.code).toBe('lease_expired');

    await fixture.claim();
    await fixture.expireLease(id);
    await queue.recoverExpiredLeases(2);
    expect(await fixture.status(id)).toBe('failed');
    const failed = await fixture.sql.query('select error from message where id = $1', [id]);
    expect(failed.rows[0].error.code).toBe('attempts_exhausted');

    const other = await sent(c);
    await fixture.claim();
    await queue.cancel(ownerOf('default'), c, other);
    await fixture.expireLease(other);
    await queue.recoverExpiredLeases(2);
    expect(await fixture.status(other)).toBe('cancelled');
    // Nothing left to recover.
    expect(await queue.recoverExpiredLeases(2)).toBe(0);
  });
});
