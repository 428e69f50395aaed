// ReplyStore.writeBlocks is one SQL statement (fence, block upsert, seq bump, event rows and the
// notification). Checked here on the real database: a write fenced out by a newer attempt changes
// nothing and notifies nobody; a write after other events continues their seqs without a gap,
// and its notification carries exactly its events.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENTS_CHANNEL } from '../../src/store/channels.ts';
import type { EventNotice } from '../../src/store/event-log.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { createRpcClient, type RpcClient } from '../support/clients.ts';
import { conversationApi, textOf } from '../support/conversation.ts';

let server: TestApp;
let client: RpcClient;
let listener: pg.Client;
const notices: EventNotice[] = [];

beforeAll(async () => {
  // No queue: this test claims the message itself.
  server = await startTestApp({ PARLEY_MAX_CONCURRENT_PROMPTS: '0' });
  client = createRpcClient('connect-node/connect', server.baseUrl);
  listener = new pg.Client({ connectionString: server.databaseUrl });
  await listener.connect();
  listener.on('notification', (n) => {
    if (n.channel === EVENTS_CHANNEL && n.payload) notices.push(JSON.parse(n.payload) as EventNotice);
  });
  await listener.query(`listen ${EVENTS_CHANNEL}`);
});

afterAll(async () => {
  await listener?.end();
  client?.close();
  await server?.close();
});

async function seqs(conversationId: string): Promise<number[]> {
  const { rows } = await listener.query<{ seq: string }>('select seq from event where conversation_id = $1 order by seq', [conversationId]);
  return rows.map((row) => Number(row.seq));
}

async function claimOne(queue: TestApp['app']['stores']['queue']) {
  const result = await queue.claimNext(60_000);
  if (result.kind !== 'claimed') throw new Error(`nothing claimed: ${result.kind}`);
  return result.claim;
}

async function until(check: () => boolean, ms = 5_000): Promise<void> {
  for (const start = Date.now(); !check(); ) {
    if (Date.now() - start > ms) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('one-statement reply writes', () => {
  it('are fenced by the attempt, continue the seqs of other writers, and notify their own events', async () => {
    const api = conversationApi(client);
    const id = await api.create();
    await api.send(id, 'a question');
    const { queue, replies } = server.app.stores;
    const claim = await claimOne(queue);
    expect(claim.conversationId).toBe(id);
    const reply = (await replies.startReply(claim, 'claude-test'))!;
    const text = { type: 'text' as const, text: 'partial' };
    const started = { type: 'block_started' as const, messageId: reply.id, index: 0, block: text };

    const before = await seqs(id);
    const noticesBefore = notices.length;
    const stale = { ...claim, attempt: claim.attempt - 1 };
    expect(await replies.writeBlocks(stale, reply.id, [{ position: 0, content: text }], [started])).toBe(false);
    expect(await seqs(id)).toEqual(before);
    const { rows: blocks } = await listener.query('select 1 from block where message_id = $1', [reply.id]);
    expect(blocks).toEqual([]);

    // Another writer moves the conversation's seq on first (an UpdateConversation event).
    expect((await client.unary('UpdateConversation', { conversationId: id, title: 'renamed' })).ok).toBe(true);
    const delta = { type: 'block_delta' as const, messageId: reply.id, index: 0, delta: { kind: 'text' as const, value: ' and more' } };
    expect(await replies.writeBlocks(claim, reply.id, [{ position: 0, content: { ...text, text: 'partial and more' } }], [started, delta])).toBe(true);

    const after = await seqs(id);
    expect(after).toEqual(Array.from({ length: after.length }, (_, i) => i + 1));
    expect(after.length).toBe(before.length + 3);
    await until(() => notices.slice(noticesBefore).some((n) => n.to === after.at(-1)));
    const ours = notices.slice(noticesBefore).find((n) => n.to === after.at(-1))!;
    expect({ ...ours, events: ours.events?.map((e) => e.type) }).toEqual({
      conversationId: id,
      from: after.at(-2),
      to: after.at(-1),
      events: ['block_started', 'block_delta'],
    });
    // Nothing was notified for the fenced-out write: every notice since is the update's or ours.
    expect(notices.slice(noticesBefore).length).toBe(2);
    const { rows: stored } = await listener.query<{ content: { text: string } }>('select content from block where message_id = $1', [reply.id]);
    expect(stored.map((row) => row.content.text)).toEqual(['partial and more']);
  });

  it('a streaming block left by a dead attempt is written whole when lease recovery takes the message back', async () => {
    const api = conversationApi(client);
    const id = await api.create();
    await api.send(id, 'another question');
    const { queue, replies } = server.app.stores;
    const claim = await claimOne(queue);
    const reply = (await replies.startReply(claim, 'claude-test'))!;
    const start = { type: 'text' as const, text: 'It ' };
    const delta = (value: string) => ({ type: 'block_delta' as const, messageId: reply.id, index: 0, delta: { kind: 'text' as const, value } });
    expect(await replies.writeBlocks(claim, reply.id, [{ position: 0, content: start, streaming: true }], [
      { type: 'block_started', messageId: reply.id, index: 0, block: start },
    ])).toBe(true);
    expect(await replies.writeBlocks(claim, reply.id, [], [delta('was a '), delta('dark and')])).toBe(true);
    const row = async () =>
      (await listener.query<{ text: string; streamed_after: string | null }>(`select content->>'text' as text, streamed_after from block where message_id = $1`, [reply.id])).rows;
    expect((await row())[0]!.text).toBe('It ');
    // The attempt dies here: nothing renews its lease.
    await listener.query(`update message set lease_expires_at = now() - interval '1 second' where id = $1`, [claim.messageId]);
    expect(await queue.recoverExpiredLeases(3)).toBe(1);
    expect(await row()).toEqual([{ text: 'It was a dark and', streamed_after: null }]);
    const stored = (await api.messages(id)).find((m) => m.id === reply.id)!;
    expect([stored.status, textOf(stored)]).toEqual(['MESSAGE_STATUS_FAILED', 'It was a dark and']);
  });
});
