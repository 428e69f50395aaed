// The service's log lines, read back from a running app: one line per RPC with the caller's
// request id (also in the response's headers, on every protocol), one per prompt with its ids,
// tokens and the instance that ran it, and lines logged deep inside a request carrying its id.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnthropicEmulator, errorEventAfter, textTurn, toolUseTurn } from '../../src/emulator/index.ts';
import type { InProcessTool } from '../../src/tools/types.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { CLIENT_KINDS, createRpcClient, type ClientKind } from '../support/clients.ts';
import { conversationApi } from '../support/conversation.ts';

const INSTANCE = 'logs-test-instance';
type Line = Record<string, unknown>;
const lines: Line[] = [];
let server: TestApp;
let emulator: AnthropicEmulator;

/** Logs through the app's logger from inside a prompt, passing no ids of its own. */
const note: InProcessTool = {
  name: 'note',
  description: 'Writes a log line.',
  inputSchema: { type: 'object', properties: {} },
  async execute() {
    server.app.logger.info('the note tool ran');
    return 'noted';
  },
};

beforeAll(async () => {
  emulator = new AnthropicEmulator();
  const url = await emulator.start();
  server = await startTestApp(
    { LOG_LEVEL: 'debug', PARLEY_INSTANCE_ID: INSTANCE, ANTHROPIC_API_KEY: 'test-key', ANTHROPIC_BASE_URL: url, ANTHROPIC_MAX_RETRIES: '0', CORS_ORIGINS: 'https://app.example.com' },
    { logLines: (line) => void lines.push(JSON.parse(line) as Line), tools: [note] },
  );
});

afterAll(async () => {
  await server?.close();
  await emulator?.close();
});

/** Waits for the line `match` picks (lines of a prompt are written just after its outcome). */
async function lineWhere(match: (line: Line) => boolean): Promise<Line> {
  for (let tries = 0; tries < 200; tries++) {
    const found = lines.find(match);
    if (found) return found;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`no such log line among:\n${lines.map((line) => JSON.stringify(line)).join('\n')}`);
}

function clientWithId(kind: ClientKind, requestId: string | undefined) {
  const received: Array<Record<string, string>> = [];
  const client = createRpcClient(kind, server.baseUrl, {
    ...(requestId === undefined ? {} : { headers: { 'x-request-id': requestId } }),
    onResponseHeaders: (headers) => void received.push(headers),
  });
  return { client, received };
}

describe('log lines', () => {
  it('logs every RPC at debug with its method, code, duration and the request id it was given, on every protocol', async () => {
    for (const kind of CLIENT_KINDS) {
      const requestId = `rpc-${kind}-${Date.now()}`;
      const { client, received } = clientWithId(kind, requestId);
      try {
        expect((await client.unary('ListConversations', {})).ok).toBe(true);
        expect((await client.unary('GetConversation', { conversationId: '00000000-0000-7000-8000-000000000000' })).ok).toBe(false);
      } finally {
        client.close();
      }
      expect(received.map((headers) => headers['x-request-id'])).toEqual([requestId, requestId]);
      const rpcs = lines.filter((line) => line.msg === 'rpc' && line.requestId === requestId);
      expect(rpcs.map(({ level, method, code }) => ({ level, method, code }))).toEqual([
        { level: 'debug', method: 'parley.v1.ConversationService/ListConversations', code: 'ok' },
        { level: 'debug', method: 'parley.v1.ConversationService/GetConversation', code: 'not_found' },
      ]);
      for (const line of rpcs) {
        expect(line.durationMs).toEqual(expect.any(Number));
        expect(line.instanceId).toBe(INSTANCE);
      }
    }
  });

  it('makes a request id where the caller sent none, or one that is not printable ASCII of at most 128 characters', async () => {
    for (const given of [undefined, 'x'.repeat(129), 'ünïcode']) {
      const { client, received } = clientWithId('connect-node/connect', given);
      try {
        await client.unary('ListConversations', {});
      } finally {
        client.close();
      }
      const made = received[0]?.['x-request-id'];
      expect(made).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(lines.some((line) => line.msg === 'rpc' && line.requestId === made)).toBe(true);
    }
  });

  it('answers the health endpoints with the request id too', async () => {
    for (const route of ['/healthz', '/readyz']) {
      const given = await fetch(`${server.baseUrl}${route}`, { headers: { 'x-request-id': `health ${route}` } });
      expect(given.headers.get('x-request-id')).toBe(`health ${route}`);
      const made = await fetch(`${server.baseUrl}${route}`);
      expect(made.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    }
  });

  it('logs a prompt at info when it ends, with its ids, tokens and instance, and stores the instance on the attempt', async () => {
    for (const kind of ['grpc-js', 'connect-node/connect'] as const) {
      const requestId = `send-${kind}-${Date.now()}`;
      const { client, received } = clientWithId(kind, requestId);
      try {
        const api = conversationApi(client);
        emulator.enqueue(textTurn('Hello there, how can I help?'));
        const conversationId = await api.create();
        const sent = await api.send(conversationId, 'hello');
        const [, reply] = await api.settled(conversationId);
        expect(received.every((headers) => headers['x-request-id'] === requestId)).toBe(true);

        const send = await lineWhere((line) => line.msg === 'rpc' && line.requestId === requestId && line.method === 'parley.v1.ConversationService/SendMessage');
        expect(send).toMatchObject({ level: 'debug', code: 'ok', durationMs: expect.any(Number) });

        const ended = await lineWhere((line) => line.msg === 'prompt ended' && line.messageId === sent.id);
        expect(ended).toMatchObject({
          level: 'info',
          instanceId: INSTANCE,
          conversationId,
          messageId: sent.id,
          replyId: reply!.id,
          attempt: 1,
          model: expect.any(String),
          status: 'completed',
          stopReason: 'end_turn',
          inputTokens: expect.any(Number),
          outputTokens: expect.any(Number),
          cacheCreationInputTokens: expect.any(Number),
          cacheReadInputTokens: expect.any(Number),
          durationMs: expect.any(Number),
          timeToFirstTokenMs: expect.any(Number),
        });
        // The tokens the reply itself reports.
        const usage = (reply as unknown as { usage: Record<string, string> }).usage;
        expect(ended.inputTokens).toBeGreaterThan(0);
        expect(ended.outputTokens).toBeGreaterThan(0);
        expect([ended.inputTokens, ended.outputTokens]).toEqual([Number(usage.inputTokens), Number(usage.outputTokens)]);

        const db = new pg.Client({ connectionString: server.databaseUrl });
        await db.connect();
        try {
          const { rows } = await db.query<{ id: string; instance_id: string | null }>('select id, instance_id from message where conversation_id = $1 order by id', [conversationId]);
          expect(rows).toEqual([
            { id: sent.id, instance_id: INSTANCE },
            { id: reply!.id, instance_id: INSTANCE },
          ]);
        } finally {
          await db.end();
        }
      } finally {
        client.close();
      }
    }
  });

  it('gives the lines logged anywhere inside a prompt its conversation and message ids', async () => {
    const { client } = clientWithId('connect-node/connect', 'tool-prompt');
    try {
      const api = conversationApi(client);
      emulator.enqueue(toolUseTurn('note', {}), textTurn('Noted.'));
      const conversationId = await api.create({ enabledTools: ['note'] });
      const sent = await api.send(conversationId, 'take a note');
      await api.settled(conversationId);
      const line = await lineWhere((l) => l.msg === 'the note tool ran');
      expect(line).toMatchObject({ level: 'info', instanceId: INSTANCE, conversationId, messageId: sent.id });
      // A prompt runs for the queue, not for the request that sent its message.
      expect(line.requestId).toBeUndefined();
    } finally {
      client.close();
    }
  });

  it('warns of a prompt that failed, with why', async () => {
    const { client } = clientWithId('connect-node/connect', 'failing-prompt');
    try {
      const api = conversationApi(client);
      emulator.enqueue(errorEventAfter(2, textTurn('a reply that is cut off'), 'overloaded_error'));
      const conversationId = await api.create();
      const sent = await api.send(conversationId, 'hello');
      const [user] = await api.settled(conversationId);
      expect(user!.status).toBe('MESSAGE_STATUS_FAILED');
      const line = await lineWhere((l) => l.msg === 'prompt failed' && l.messageId === sent.id);
      expect(line).toMatchObject({ level: 'warn', conversationId, attempt: 1, status: 'failed', errorCode: user!.error!.code, instanceId: INSTANCE });
    } finally {
      client.close();
    }
  });

  it('logs a server stream when it ends', async () => {
    const requestId = `subscribe-${Date.now()}`;
    const { client } = clientWithId('connect-node/grpc', requestId);
    try {
      const conversationId = await conversationApi(client).create();
      // The snapshot, then the client goes away.
      const result = await client.stream('Subscribe', { conversationId }, { take: 1 });
      expect(result.responses).toHaveLength(1);
    } finally {
      client.close();
    }
    const line = await lineWhere((l) => l.msg === 'rpc' && l.requestId === requestId && l.method === 'parley.v1.ConversationService/Subscribe');
    expect(line).toMatchObject({ level: 'debug', code: 'canceled', durationMs: expect.any(Number) });
  });

  it('warns of a browser origin CORS does not allow, with the request id of its request', async () => {
    const response = await fetch(`${server.baseUrl}/parley.v1.ConversationService/ListConversations`, {
      method: 'OPTIONS',
      headers: { origin: 'https://elsewhere.example', 'access-control-request-method': 'POST', 'x-request-id': 'cors-refused' },
    });
    expect(response.headers.get('access-control-allow-origin')).toBeNull();
    expect(response.headers.get('x-request-id')).toBe('cors-refused');
    expect(lines.find((line) => line.requestId === 'cors-refused')).toMatchObject({ level: 'warn', origin: 'https://elsewhere.example' });
    const allowed = await fetch(`${server.baseUrl}/parley.v1.ConversationService/ListConversations`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'x-request-id' },
    });
    // A browser app may send its own id and read ours.
    expect(allowed.headers.get('access-control-allow-headers')).toMatch(/X-Request-Id/i);
  });
});
