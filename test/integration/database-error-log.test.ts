// User content never reaches the database's error log: every statement binds its values, so a
// statement that fails is logged with $1, $2… in place of a title, a system prompt or a message.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../../src/store/embedded-postgres.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { createRpcClient, type RpcClient } from '../support/clients.ts';
import { conversationApi } from '../support/conversation.ts';

const MARKER = 'user-secret-7f3a9c';
let root = '';
let postgres: EmbeddedPostgresHandle;
let server: TestApp;
let client: RpcClient;
let locker: pg.Client;
const log: string[] = [];

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'parley-errlog-'));
  postgres = await startEmbeddedPostgres({ dataDir: path.join(root, 'pg'), persistent: false, unsafeFast: true, onLog: (line) => log.push(line) });
  server = await startTestApp({ DATABASE_STATEMENT_TIMEOUT_MS: '200', PARLEY_MAX_CONCURRENT_PROMPTS: '0' }, { databaseUrl: postgres.url });
  client = createRpcClient('connect-node/connect', server.baseUrl);
  locker = new pg.Client({ connectionString: postgres.url });
  await locker.connect();
}, 60_000);

afterAll(async () => {
  client?.close();
  await locker?.end().catch(() => undefined);
  await server?.app.close();
  await postgres?.stop();
  if (root) await rm(root, { recursive: true, force: true });
});

describe('the database error log', () => {
  it('shows failed statements without the values they carried', async () => {
    const id = await conversationApi(client).create({}, 'held');
    await locker.query('begin');
    // Writes of the conversation's row and new conversations both wait, then time out.
    await locker.query('lock table conversation in exclusive mode');
    const results = await Promise.all([
      client.unary('CreateConversation', { title: `${MARKER} title`, settings: { systemPrompt: `${MARKER} system` } }),
      client.unary('UpdateConversation', { conversationId: id, title: `${MARKER} new title` }),
      client.unary('SendMessage', { conversationId: id, text: `${MARKER} message` }),
    ]);
    await locker.query('rollback');
    expect(results.every((result) => !result.ok)).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 200)); // the log lines arrive on stderr
    const text = log.join('\n');
    // The failures were logged, with their statements: the test sees what it checks.
    expect(text).toMatch(/canceling statement due to statement timeout/);
    expect(text).toMatch(/STATEMENT:\s+(insert into conversation|update conversation|select subject_id from conversation)/);
    expect(text).not.toContain(MARKER);
  });
});
