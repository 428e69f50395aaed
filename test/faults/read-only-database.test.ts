// A database that is up but refuses writes (read-only, as a standby or an operator makes it):
// /readyz says not ready, and a write answers unavailable (retry), not internal. Both recover
// when it takes writes again.
import { Code } from '@connectrpc/connect';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../support/app.ts';
import { createRpcClient, type RpcClient } from '../support/clients.ts';

let server: TestApp;
let client: RpcClient;
let admin: pg.Client;

beforeAll(async () => {
  server = await startTestApp();
  client = createRpcClient('connect-node/connect', server.baseUrl);
  admin = new pg.Client({ connectionString: server.databaseUrl });
  await admin.connect();
});

afterAll(async () => {
  await admin?.end();
  client?.close();
  await server?.close();
});

/** Sets the database read-only (or not) and drops the app's connections so that new ones see it. */
async function readOnly(on: boolean): Promise<void> {
  const name = new URL(server.databaseUrl).pathname.slice(1);
  await admin.query(`alter database ${pg.escapeIdentifier(name)} set default_transaction_read_only = ${on ? 'on' : 'off'}`);
  await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()', [name]);
}

async function ready(): Promise<number> {
  return (await fetch(`${server.baseUrl}/readyz`)).status;
}

async function eventually<T>(read: () => Promise<T>, expected: T, ms = 10_000): Promise<T> {
  let last = await read().catch(() => undefined as T);
  for (const start = Date.now(); last !== expected && Date.now() - start < ms; ) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    last = await read().catch(() => undefined as T);
  }
  return last;
}

describe('a database that refuses writes', () => {
  it('makes the instance not ready and answers writes unavailable, until it takes writes again', async () => {
    expect(await ready()).toBe(200);
    await readOnly(true);
    expect(await eventually(ready, 503)).toBe(503);
    const create = async () => {
      const result = await client.unary('CreateConversation', { title: 'while read-only' });
      return result.ok ? 'ok' : Code[result.code];
    };
    expect(await eventually(create, Code[Code.Unavailable])).toBe(Code[Code.Unavailable]);
    // Reads still work.
    expect((await client.unary('ListConversations', {})).ok).toBe(true);

    await readOnly(false);
    expect(await eventually(ready, 200)).toBe(200);
    expect(await eventually(create, 'ok')).toBe('ok');
  });
});
