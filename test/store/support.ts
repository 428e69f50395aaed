import { DEFAULT_CONTEXT_POLICY } from '../../src/domain/context-policy.ts';
import { DEFAULT_THINKING } from '../../src/domain/model-thinking.ts';
import { ownerOf } from '../support/owner.ts';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import pg from 'pg';
import type { Claim, ConversationSettings } from '../../src/domain/records.ts';
import { closeOrm, openOrm } from '../../src/store/orm.ts';
import { openStores, type Stores } from '../../src/store/stores.ts';
import { createTestDatabase } from '../support/database.ts';

export interface StoreFixture {
  stores: Stores;
  /** A connection of the test's own, to look at rows and move clocks. */
  sql: pg.Client;
  /** A conversation of owner `default`. */
  conversation(): Promise<string>;
  /** Claims the next message and fails the test when nothing is claimable. */
  claim(): Promise<Claim>;
  /** Makes the lease of a running message run out now. */
  expireLease(messageId: string): Promise<void>;
  status(messageId: string): Promise<string>;
  close(): Promise<void>;
}

/** The stores over a fresh migrated database, without the rest of the app. */
export async function openStoreFixture(): Promise<StoreFixture> {
  const database = await createTestDatabase();
  const orm = await openOrm({ databaseUrl: database.url, poolSize: 4 });
  const stores = await openStores(orm);
  const sql = new pg.Client({ connectionString: database.url });
  await sql.connect();
  return {
    stores,
    sql,
    conversation: async () => (await stores.conversations.create(ownerOf('default'), { title: 'store test', settings: SETTINGS })).id,
    claim: async () => {
      const result = await stores.queue.claimNext(60_000);
      if (result.kind !== 'claimed') throw new Error(`expected a claim, got ${result.kind}`);
      return result.claim;
    },
    expireLease: async (messageId) => {
      await sql.query(`update message set lease_expires_at = now() - interval '1 second' where id = $1`, [messageId]);
    },
    status: async (messageId) => (await sql.query<{ status: string }>('select status from message where id = $1', [messageId])).rows[0]!.status,
    close: async () => {
      await sql.end();
      await closeOrm(orm);
      await database.drop();
    },
  };
}

const SETTINGS: ConversationSettings = {
  model: 'claude-test',
  systemPrompt: '',
  maxTokens: 1024,
  thinkingBudgetTokens: 0,
  enabledTools: [],
  clientTools: [],
  context: DEFAULT_CONTEXT_POLICY,
    thinking: DEFAULT_THINKING,
};

/**
 * Opens one fixture for the test file (closed after it) and empties the database before each
 * case: the queue spans every conversation, so a case must not see another's messages.
 */
export function useStoreFixture(): () => StoreFixture {
  let fixture: StoreFixture | undefined;
  beforeAll(async () => {
    fixture = await openStoreFixture();
  });
  afterAll(async () => {
    await fixture?.close();
  });
  beforeEach(async () => {
    // The ledger and the limits have no foreign keys to conversations: they outlive them.
    await fixture!.sql.query('delete from conversation; delete from usage_record; delete from rate_window; delete from tenant_policy');
  });
  return () => fixture!;
}
