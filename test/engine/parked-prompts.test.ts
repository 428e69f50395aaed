// A prompt waiting for a client tool's answer holds no place in the instance's concurrency:
// with two places and two prompts waiting on their callers, a third conversation is answered at
// once; the waiting ones complete when their answers come.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnthropicEmulator, textTurn, toolUseTurn } from '../../src/emulator/index.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { createRpcClient, type RpcClient } from '../support/clients.ts';
import { conversationApi } from '../support/conversation.ts';

const lookupOrder = {
  name: 'lookup_order',
  description: 'Finds an order by its number.',
  inputSchema: { type: 'object', properties: { number: { type: 'string' } }, required: ['number'] },
};

let emulator: AnthropicEmulator;
let server: TestApp;
let caller: RpcClient;
let sql: pg.Client;

beforeAll(async () => {
  emulator = new AnthropicEmulator();
  server = await startTestApp({ ANTHROPIC_API_KEY: 'test-key', ANTHROPIC_BASE_URL: await emulator.start(), PARLEY_MAX_CONCURRENT_PROMPTS: '2' });
  caller = createRpcClient('grpc-js', server.baseUrl);
  sql = new pg.Client({ connectionString: server.databaseUrl });
  await sql.connect();
});

afterAll(async () => {
  caller?.close();
  await sql?.end();
  await server?.close();
  await emulator?.close();
});

/** Client tool calls waiting for their caller, read below the API. */
async function waitingCalls(): Promise<Array<{ tool_use_id: string; conversation_id: string }>> {
  const { rows } = await sql.query<{ tool_use_id: string; conversation_id: string }>(`select tool_use_id, conversation_id from client_tool_call where status = 'awaiting'`);
  return rows;
}

describe('prompts waiting on a client', () => {
  it('give their place to another conversation while they wait', async () => {
    const api = conversationApi(caller);
    const waiting = [await api.create({ clientTools: [lookupOrder] }), await api.create({ clientTools: [lookupOrder] })];
    emulator.enqueue(toolUseTurn('lookup_order', { number: 'A-1' }), toolUseTurn('lookup_order', { number: 'A-2' }));
    for (const id of waiting) await api.send(id, 'Where is my order?');
    const deadline = Date.now() + 15_000;
    while ((await waitingCalls()).length < 2) {
      if (Date.now() > deadline) throw new Error('the two prompts did not reach their client tool calls');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    // Both places would be held by the waits; the third conversation is answered anyway.
    const other = await api.create();
    emulator.enqueue(textTurn('Answered while the others wait.'));
    await api.send(other, 'hello');
    // Held back, it would wait for a place until a client answered (never, here): settled() would time out.
    const answered = await api.settled(other, 10_000);
    expect(answered.at(-1)).toMatchObject({ role: 'ROLE_ASSISTANT', status: 'MESSAGE_STATUS_COMPLETED' });
    expect(await waitingCalls()).toHaveLength(2);

    // The waiting ones go on when their callers answer.
    emulator.enqueue(textTurn('A-1 ships today.'), textTurn('A-2 ships tomorrow.'));
    for (const row of await waitingCalls()) {
      const submitted = await caller.unary('SubmitToolResult', { conversationId: row.conversation_id, toolUseId: row.tool_use_id, content: 'in the warehouse' });
      expect(submitted.ok).toBe(true);
    }
    for (const id of waiting) expect((await api.settled(id, 15_000)).at(-1)?.status).toBe('MESSAGE_STATUS_COMPLETED');
  });

  let requestsBefore = 0;
  it('go on only when a place is free: answered waits queue behind the prompts that run', async () => {
    requestsBefore = emulator.requests.length;
    const api = conversationApi(caller);
    const waiting = [await api.create({ clientTools: [lookupOrder] }), await api.create({ clientTools: [lookupOrder] })];
    emulator.enqueue(toolUseTurn('lookup_order', { number: 'B-1' }), toolUseTurn('lookup_order', { number: 'B-2' }));
    for (const id of waiting) await api.send(id, 'Where is my order?');
    for (let waited = 0; (await waitingCalls()).length < 2; waited += 50) {
      if (waited > 15_000) throw new Error('the two prompts did not reach their client tool calls');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    // Two slow replies take both places.
    const busy = [await api.create(), await api.create()];
    emulator.enqueue(textTurn('slow '.repeat(60), { tokensPerSecond: 40 }), textTurn('slow '.repeat(60), { tokensPerSecond: 40 }));
    for (const id of busy) await api.send(id, 'take your time');
    for (let waited = 0; emulator.requests.length < requestsBefore + 4; waited += 20) {
      if (waited > 10_000) throw new Error('the slow replies did not start');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    // The callers answer; the waiting prompts have no place until a slow reply ends.
    emulator.enqueue(textTurn('B-1 ships today.'), textTurn('B-2 ships tomorrow.'));
    for (const row of await waitingCalls()) await caller.unary('SubmitToolResult', { conversationId: row.conversation_id, toolUseId: row.tool_use_id, content: 'packed' });
    await new Promise((resolve) => setTimeout(resolve, 400));
    const slowStillRunning = (await api.messages(busy[0]!)).some((m) => m.status === 'MESSAGE_STATUS_PROCESSING');
    if (slowStillRunning) expect(emulator.requests.length).toBe(requestsBefore + 4);
    for (const id of [...busy, ...waiting]) expect((await api.settled(id, 20_000)).at(-1)?.status).toBe('MESSAGE_STATUS_COMPLETED');
    expect(emulator.requests.length).toBe(requestsBefore + 6);
  });
});
