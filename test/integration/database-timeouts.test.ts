// Bounds on the database: a statement that runs past DATABASE_STATEMENT_TIMEOUT_MS (here one
// waiting on a row lock) is cancelled by the server and the caller gets unavailable, with
// nothing stored; a request that waits past DATABASE_ACQUIRE_TIMEOUT_MS for a pooled
// connection gets unavailable too; every pooled session carries the configured bounds.
import { Code } from '@connectrpc/connect';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openOrm } from '../../src/store/orm.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { createRpcClient, type RpcClient } from '../support/clients.ts';
import { conversationApi } from '../support/conversation.ts';

let server: TestApp;
let client: RpcClient;
let locker: pg.Client;

beforeAll(async () => {
  server = await startTestApp({ DATABASE_STATEMENT_TIMEOUT_MS: '300', DATABASE_POOL_SIZE: '2', DATABASE_ACQUIRE_TIMEOUT_MS: '300', PARLEY_MAX_CONCURRENT_PROMPTS: '0' });
  client = createRpcClient('connect-node/connect', server.baseUrl);
  locker = new pg.Client({ connectionString: server.databaseUrl });
  await locker.connect();
});

afterAll(async () => {
  client?.close();
  await locker?.end().catch(() => undefined);
  await server?.close();
});

async function messages(conversationId: string): Promise<number> {
  const { rows } = await locker.query<{ n: string }>('select count(*) as n from message where conversation_id = $1', [conversationId]);
  return Number(rows[0]!.n);
}

describe('database timeouts', () => {
  it('cancel a statement that runs too long: the caller gets unavailable and nothing is stored', async () => {
    const id = await conversationApi(client).create();
    await locker.query('begin');
    await locker.query('select id from conversation where id = $1 for update', [id]);
    const sent = await client.unary('SendMessage', { conversationId: id, text: 'held up' });
    await locker.query('rollback');
    // Cancelled by the server at the bound (unavailable), not left to the request's own deadline
    // (30 s, deadline_exceeded).
    expect(sent.ok === false && [sent.code, sent.message]).toEqual([Code.Unavailable, expect.stringContaining('too slow right now')]);
    expect(await messages(id)).toBe(0);
    // The pool is whole afterwards.
    expect((await client.unary('SendMessage', { conversationId: id, text: 'now it goes' })).ok).toBe(true);
  });

  it('bound the wait for a pooled connection', async () => {
    // Statements may wait longer than a connection may be waited for, here.
    const slow = await startTestApp(
      { DATABASE_STATEMENT_TIMEOUT_MS: '5000', DATABASE_POOL_SIZE: '2', DATABASE_ACQUIRE_TIMEOUT_MS: '200', PARLEY_MAX_CONCURRENT_PROMPTS: '0' },
      { databaseUrl: server.databaseUrl },
    );
    const caller = createRpcClient('connect-node/connect', slow.baseUrl);
    try {
      const ids = await Promise.all([conversationApi(caller).create(), conversationApi(caller).create()]);
      await locker.query('begin');
      await locker.query('select id from conversation where id = any($1::uuid[]) for update', [ids]);
      // Two sends hold the pool's two connections while they wait on the lock; a third request
      // finds none free within the acquire timeout.
      const held = ids.map((conversationId) => caller.unary('SendMessage', { conversationId, text: 'waiting' }));
      await new Promise((resolve) => setTimeout(resolve, 100));
      // Without the bound it would wait for a send to finish, then succeed.
      const listed = await caller.unary('ListConversations', {});
      await locker.query('rollback');
      expect((await Promise.all(held)).every((sent) => sent.ok)).toBe(true);
      expect(listed.ok === false && listed.code).toBe(Code.Unavailable);
      expect((await caller.unary('ListConversations', {})).ok).toBe(true);
    } finally {
      caller.close();
      await slow.app.close();
    }
  });

  it('set the bounds on every pooled session, and TCP keepalive', async () => {
    const orm = await openOrm({ databaseUrl: server.databaseUrl, poolSize: 1, timeouts: { acquireMs: 1_000, statementMs: 1_234, idleInTransactionMs: 5_678, keepAliveMs: 9_000 } });
    try {
      const pool = (await orm.em.getConnection().getNativeClient()) as pg.Pool;
      const { rows } = await pool.query<{ statement: string; idle: string }>(
        `select current_setting('statement_timeout') as statement, current_setting('idle_in_transaction_session_timeout') as idle`,
      );
      expect(rows[0]).toEqual({ statement: '1234ms', idle: '5678ms' });
      const options = (pool as unknown as { options: Record<string, unknown> }).options;
      expect(options).toMatchObject({ connectionTimeoutMillis: 1_000, keepAlive: true, keepAliveInitialDelayMillis: 9_000 });
    } finally {
      await orm.close();
    }
  });
});
