// A streaming block is stored as it started and completed from its block_delta events when read
// (no rewrite of the whole block per flush). Checked on the real runner and database: mid-stream
// the row holds only the start while GetConversation shows the text so far; a stopped block is
// written whole; a block cut off by a shutdown is written whole when its prompt is given back.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnthropicEmulator, textTurn } from '../../src/emulator/index.ts';
import { startTestApp } from '../support/app.ts';
import { createRpcClient } from '../support/clients.ts';
import { conversationApi, repliesTo, textOf } from '../support/conversation.ts';

let emulator: AnthropicEmulator;
let url: string;
const WORDS = Array.from({ length: 60 }, (_, i) => `w${i}`).join(' ');

beforeAll(async () => {
  emulator = new AnthropicEmulator();
  url = await emulator.start();
});

afterAll(async () => {
  await emulator?.close();
});

async function blockRows(databaseUrl: string, messageId: string) {
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  try {
    const { rows } = await db.query<{ text: string | null; streamed_after: string | null }>(
      `select content->>'text' as text, streamed_after from block where message_id = $1 order by position`,
      [messageId],
    );
    return rows.map((row) => ({ text: row.text, streaming: row.streamed_after !== null }));
  } finally {
    await db.end();
  }
}

async function until(check: () => Promise<boolean>, ms = 15_000): Promise<void> {
  for (const start = Date.now(); !(await check()); ) {
    if (Date.now() - start > ms) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('streaming blocks', () => {
  it('are completed from their deltas while they stream, and written whole when they stop', async () => {
    const server = await startTestApp({ ANTHROPIC_API_KEY: 'test-key', ANTHROPIC_BASE_URL: url, PARLEY_DELTA_FLUSH_MS: '20' });
    const client = createRpcClient('connect-node/connect', server.baseUrl);
    try {
      emulator.enqueue(textTurn(WORDS, { tokensPerSecond: 40 }));
      const api = conversationApi(client);
      const id = await api.create();
      const sent = await api.send(id, 'stream slowly');
      let mid = '';
      await until(async () => {
        const reply = repliesTo(await api.messages(id), sent.id)[0];
        mid = reply ? textOf(reply) : '';
        return mid.split(' ').length >= 10;
      });
      expect(WORDS.startsWith(mid)).toBe(true);
      const replyId = repliesTo(await api.messages(id), sent.id)[0]!.id;
      const rows = await blockRows(server.databaseUrl, replyId);
      expect(rows).toHaveLength(1);
      expect(rows[0]!.streaming).toBe(true);
      // The row holds less than GetConversation showed: the rest came from the events.
      expect(rows[0]!.text!.length).toBeLessThan(mid.length);

      const messages = await api.settled(id);
      expect(textOf(repliesTo(messages, sent.id)[0]!)).toBe(WORDS);
      expect(await blockRows(server.databaseUrl, replyId)).toEqual([{ text: WORDS, streaming: false }]);
    } finally {
      client.close();
      await server.close();
    }
  });

  it('of a prompt given back at shutdown are written whole as they stood', async () => {
    const env = { ANTHROPIC_API_KEY: 'test-key', ANTHROPIC_BASE_URL: url, PARLEY_DELTA_FLUSH_MS: '20', PARLEY_SHUTDOWN_GRACE_MS: '0' };
    const server = await startTestApp(env);
    const client = createRpcClient('connect-node/connect', server.baseUrl);
    const api = conversationApi(client);
    emulator.enqueue(textTurn(WORDS, { tokensPerSecond: 20 }));
    const id = await api.create();
    const sent = await api.send(id, 'cut me off');
    await until(async () => {
      const reply = repliesTo(await api.messages(id), sent.id)[0];
      return (reply ? textOf(reply) : '').split(' ').length >= 5;
    });
    const replyId = repliesTo(await api.messages(id), sent.id)[0]!.id;
    client.close();
    await server.app.close();
    const rows = await blockRows(server.databaseUrl, replyId);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.streaming).toBe(false);
    expect(rows[0]!.text!.split(' ').length).toBeGreaterThanOrEqual(5);
    expect(WORDS.startsWith(rows[0]!.text!)).toBe(true);
  });
});
