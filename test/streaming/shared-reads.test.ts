// Events too large to ride on a NOTIFY are read from the table once per instance, however many
// subscribers of the conversation want them (it was one read per subscriber), and every
// subscriber still gets each of them exactly once.
import { createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConversationService } from '../../gen/parley/v1/conversation_service_pb.ts';
import { AnthropicEmulator, textTurn } from '../../src/emulator/index.ts';
import { startTestApp, type TestApp } from '../support/app.ts';

const SUBSCRIBERS = 60;
let emulator: AnthropicEmulator;
let server: TestApp;
let eventReads = 0;

beforeAll(async () => {
  emulator = new AnthropicEmulator();
  const url = await emulator.start();
  server = await startTestApp(
    { ANTHROPIC_API_KEY: 'test-key', ANTHROPIC_BASE_URL: url, PARLEY_HEARTBEAT_MS: '5000' },
    { onQuery: (sql) => void (sql.startsWith('select seq, payload from event') && eventReads++) },
  );
});

afterAll(async () => {
  await server?.close();
  await emulator?.close();
});

describe('reads of events too large for a notification', () => {
  it('are shared by every subscriber of the conversation on the instance', async () => {
    const client = createClient(ConversationService, createGrpcTransport({ baseUrl: server.baseUrl }));
    const conversationId = (await client.createConversation({ title: 'crowded' })).conversation!.id;
    const abort = new AbortController();
    const seen: number[][] = [];
    let snapshots = 0;
    const streams = Array.from({ length: SUBSCRIBERS }, (_, i) => {
      seen[i] = [];
      return (async () => {
        try {
          for await (const response of client.subscribe({ conversationId }, { signal: abort.signal })) {
            if (response.event.case === 'snapshot') snapshots++;
            else if (response.event.case !== 'heartbeat') seen[i]!.push(Number(response.seq));
          }
        } catch {
          // Aborted at the end of the test.
        }
      })();
    });
    while (snapshots < SUBSCRIBERS) await new Promise((resolve) => setTimeout(resolve, 20));
    const before = eventReads;
    // 40 KB in one block, streamed at full speed: its completion event cannot ride on a NOTIFY.
    emulator.enqueue(textTurn('word '.repeat(8_000)));
    await client.sendMessage({ conversationId, text: 'a long answer, please' });
    const deadline = Date.now() + 20_000;
    const lastSeq = async () => Number((await server.app.stores.snapshots.snapshot({ tenantId: 'default', subjectId: null }, conversationId))!.seq);
    let target = 0;
    for (;;) {
      const conversation = await client.getConversation({ conversationId });
      const done = conversation.messages.length === 2 && conversation.messages.every((m) => m.status === 3);
      if (done) {
        target = await lastSeq();
        if (seen.every((s) => s.at(-1) === target)) break;
      }
      if (Date.now() > deadline) throw new Error('the subscribers did not get every event');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    abort.abort();
    await Promise.all(streams);
    const reads = eventReads - before;
    console.log(`streaming: ${SUBSCRIBERS} subscribers, a 40 KB block: ${reads} reads of the event table`);
    // Each subscriber got every event once, in order.
    const expected = seen[0]!;
    expect(new Set(expected).size).toBe(expected.length);
    for (const s of seen) expect(s).toEqual(expected);
    // One shared read per notice that could not carry its events (a few), not one per subscriber.
    expect(reads).toBeGreaterThan(0);
    expect(reads).toBeLessThan(SUBSCRIBERS / 4);
  });
});
