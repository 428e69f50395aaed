// The lifecycle table against the stores that enforce it: random sequences of every store
// method that changes a status run on a real database, and after each one every message's
// status change must be a transition the table allows for that method's step. A store method
// that moves a message in a way the table does not list fails this test.
import { ownerOf } from '../support/owner.ts';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allows, from, TRANSITIONS, type Step } from '../../src/domain/lifecycle.ts';
import type { Claim, MessageStatus, Role } from '../../src/domain/records.ts';
import { openStoreFixture, type StoreFixture } from './support.ts';

let fixture: StoreFixture;

beforeAll(async () => {
  fixture = await openStoreFixture();
});

afterAll(async () => {
  await fixture?.close();
});

interface Row {
  role: Role;
  status: MessageStatus;
}

async function rows(conversationId: string): Promise<Map<string, Row>> {
  const { rows } = await fixture.sql.query<Row & { id: string }>('select id, role, status from message where conversation_id = $1', [conversationId]);
  return new Map(rows.map((row) => [row.id, { role: row.role, status: row.status }]));
}

/** One store call; `pick` chooses among the messages or claims that exist. */
type Operation =
  | { op: 'send' }
  | { op: 'claim' }
  | { op: 'startReply'; pick: number }
  | { op: 'finish'; pick: number; status: 'completed' | 'failed' | 'cancelled' }
  | { op: 'release'; pick: number }
  | { op: 'expire'; pick: number }
  | { op: 'cancel'; pick: number }
  | { op: 'retry'; pick: number };

const STEPS: Record<Operation['op'], Step[]> = {
  send: ['send'],
  claim: ['claim'],
  startReply: ['start_reply'],
  finish: ['finish'],
  release: ['release'],
  expire: ['lease_expired'],
  cancel: ['cancel'],
  retry: ['retry'],
};

const operation: fc.Arbitrary<Operation> = fc.oneof(
  fc.constant({ op: 'send' as const }),
  fc.constant({ op: 'claim' as const }),
  fc.record({ op: fc.constant('startReply' as const), pick: fc.nat() }),
  fc.record({ op: fc.constant('finish' as const), pick: fc.nat(), status: fc.constantFrom('completed' as const, 'failed' as const, 'cancelled' as const) }),
  fc.record({ op: fc.constant('release' as const), pick: fc.nat() }),
  fc.record({ op: fc.constant('expire' as const), pick: fc.nat() }),
  fc.record({ op: fc.constant('cancel' as const), pick: fc.nat() }),
  fc.record({ op: fc.constant('retry' as const), pick: fc.nat() }),
);

interface World {
  conversationId: string;
  users: string[];
  /** Claims made, newest last; a stale one is a lost claim, which must change nothing. */
  claims: Array<{ claim: Claim; replyId: string | null }>;
}

async function run(world: World, operation: Operation): Promise<void> {
  const { queue, replies } = fixture.stores;
  const pickClaim = (pick: number) => world.claims[pick % Math.max(1, world.claims.length)];
  const pickUser = (pick: number) => world.users[pick % Math.max(1, world.users.length)];
  switch (operation.op) {
    case 'send': {
      const result = await queue.enqueue(ownerOf('default'), world.conversationId, { text: `m${world.users.length}`, requestId: null, maxQueued: 100 });
      if (result.kind === 'queued') world.users.push(result.message.id);
      return;
    }
    case 'claim': {
      const result = await queue.claimNext(60_000);
      if (result.kind === 'claimed') world.claims.push({ claim: result.claim, replyId: null });
      return;
    }
    case 'startReply': {
      const held = pickClaim(operation.pick);
      if (held) held.replyId = (await replies.startReply(held.claim, 'claude-test'))?.id ?? held.replyId;
      return;
    }
    case 'finish': {
      const held = pickClaim(operation.pick);
      const error = operation.status === 'completed' ? null : { code: operation.status, message: 'ended by the test' };
      if (held) await replies.finish(held.claim, held.replyId, { status: operation.status, error, stopReason: null, usage: null });
      return;
    }
    case 'release': {
      const held = pickClaim(operation.pick);
      if (held) await replies.release(held.claim, held.replyId);
      return;
    }
    case 'expire': {
      const held = pickClaim(operation.pick);
      if (!held) return;
      await fixture.expireLease(held.claim.messageId);
      await queue.recoverExpiredLeases(2);
      return;
    }
    case 'cancel': {
      const id = pickUser(operation.pick);
      if (id) await queue.cancel(ownerOf('default'), world.conversationId, id);
      return;
    }
    case 'retry': {
      const id = pickUser(operation.pick);
      if (id) await queue.requeue(ownerOf('default'), world.conversationId, id);
      return;
    }
  }
}

describe('the prompt lifecycle table', () => {
  it('lists each transition once, and names a starting status for every step but creation', () => {
    const keys = TRANSITIONS.map((t) => `${t.role}:${t.step}:${t.from}:${t.to}`);
    expect(new Set(keys).size).toBe(keys.length);
    expect(TRANSITIONS.filter((t) => t.from === null).map((t) => `${t.role}:${t.step}`)).toEqual(['user:send', 'assistant:start_reply']);
    expect(from('user', 'retry', 'queued')).toEqual(['failed', 'cancelled']);
    expect(from('user', 'claim')).toEqual(['queued']);
    expect(allows('user', 'finish', 'completed', 'queued')).toBe(false);
  });

  it('is what every store method does, over random sequences of them', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(operation, { minLength: 1, maxLength: 25 }), async (operations) => {
        // The queue is shared by every conversation: each run starts from an empty one.
        await fixture.sql.query('delete from conversation');
        const world: World = { conversationId: await fixture.conversation(), users: [], claims: [] };
        let before = await rows(world.conversationId);
        for (const op of operations) {
          await run(world, op);
          const after = await rows(world.conversationId);
          for (const [id, row] of after) {
            const was = before.get(id)?.status ?? null;
            if (was === row.status) continue;
            const allowed = STEPS[op.op].some((step) => allows(row.role, step, was, row.status));
            expect(allowed, `${op.op} moved a ${row.role} message from ${was ?? 'nothing'} to ${row.status}`).toBe(true);
          }
          for (const id of before.keys()) expect(after.has(id), `${op.op} removed message ${id}`).toBe(true);
          before = after;
        }
        // Whatever happened, at most one prompt of the conversation is active.
        expect([...before.values()].filter((row) => row.role === 'user' && row.status === 'processing').length).toBeLessThanOrEqual(1);
      }),
      { numRuns: 60 },
    );
  });
});
