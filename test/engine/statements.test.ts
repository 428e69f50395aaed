import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnthropicEmulator, textTurn } from '../../src/emulator/index.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { createRpcClient, type RpcClient } from '../support/clients.ts';
import { conversationApi } from '../support/conversation.ts';

let emulator: AnthropicEmulator;
let server: TestApp;
let client: RpcClient;
let observer: pg.Client;
let statements = 0;

beforeAll(async () => {
  emulator = new AnthropicEmulator();
  const url = await emulator.start();
  // No background polling or lease renewal during the measurement: only the prompt's own work.
  server = await startTestApp(
    {
      ANTHROPIC_API_KEY: 'test-key',
      ANTHROPIC_BASE_URL: url,
      PARLEY_QUEUE_POLL_MS: '600000',
      PARLEY_LEASE_MS: '3600000',
      // Deltas are then written with their block's end: the count shows what grows with tokens.
      PARLEY_DELTA_FLUSH_MS: '600000',
    },
    { onQuery: () => void statements++ },
  );
  client = createRpcClient('grpc-js', server.baseUrl);
  // Completion is watched on a connection of its own, so the watching is not counted.
  observer = new pg.Client({ connectionString: server.databaseUrl });
  await observer.connect();
});

afterAll(async () => {
  await observer?.end();
  client?.close();
  await server?.close();
  await emulator?.close();
});

async function statementsForReply(tokens: number): Promise<number> {
  emulator.enqueue(textTurn(Array.from({ length: tokens }, (_, i) => `w${i}`).join(' ')));
  const id = await conversationApi(client).create();
  const before = statements;
  await conversationApi(client).send(id, 'count my statements');
  for (;;) {
    const { rows } = await observer.query(
      `select count(*)::int as n from message where conversation_id = $1 and status = 'completed'`,
      [id],
    );
    if (rows[0].n === 2) break;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return statements - before;
}

describe('database statements per prompt', () => {
  it('do not grow with the length of the reply', async () => {
    const short = await statementsForReply(10);
    const long = await statementsForReply(2000);
    console.log(`database statements per prompt: 10-token reply ${short}, 2000-token reply ${long}`);
    expect(short).toBeGreaterThan(0);
    // The queue's claim after a prompt (3 statements) may land on either side of the measurement.
    expect(Math.abs(long - short)).toBeLessThanOrEqual(4);
  });
});
