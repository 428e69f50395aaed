// grpc.health.v1.Health, over each of the four clients: Check and List answer the instance's
// status without credentials, Watch streams its changes (a database outage and its end, the
// start of a shutdown), and unknown service names get what the health protocol says.
import { Code } from '@connectrpc/connect';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Health } from '../../gen/grpc/health/v1/health_pb.ts';
import { AnthropicEmulator, stallAfter, textTurn } from '../../src/emulator/index.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { conversationApi } from '../support/conversation.ts';
import { CLIENT_KINDS, createRpcClient } from '../support/clients.ts';
import { startRestartablePostgres, type RestartablePostgres } from '../faults/support/restartable-postgres.ts';

const SERVICE = 'parley.v1.ConversationService';

describe('the gRPC health service', () => {
  let server: TestApp;

  beforeAll(async () => {
    // No cached "open": the key below takes effect at once.
    server = await startTestApp({ PARLEY_AUTH_CACHE_MS: '0' });
    // With a key, every other call needs credentials; health still answers without.
    await server.app.stores.apiKeys.create('acme');
  });

  afterAll(async () => {
    await server?.close();
  });

  it.each(CLIENT_KINDS)('answers Check and List with SERVING, and Check for an unknown service with NOT_FOUND, without credentials (%s)', async (kind) => {
    const client = createRpcClient(kind, server.baseUrl, { service: Health });
    try {
      expect(await client.unary('Check', {})).toEqual({ ok: true, response: { status: 'SERVING' } });
      expect(await client.unary('Check', { service: SERVICE })).toEqual({ ok: true, response: { status: 'SERVING' } });
      expect(await client.unary('List', {})).toEqual({
        ok: true,
        response: { statuses: { '': { status: 'SERVING' }, [SERVICE]: { status: 'SERVING' } } },
      });
      expect(await client.unary('Check', { service: 'parley.v1.Nope' })).toMatchObject({
        ok: false,
        code: Code.NotFound,
        message: 'unknown service "parley.v1.Nope"',
      });
    } finally {
      client.close();
    }
    // The same caller, without a key, is refused by the conversation service.
    const conversations = createRpcClient(kind, server.baseUrl);
    try {
      expect(await conversations.unary('ListConversations', {})).toMatchObject({ ok: false, code: Code.Unauthenticated });
    } finally {
      conversations.close();
    }
  });

  it.each(CLIENT_KINDS)('answers Watch for an unknown service with SERVICE_UNKNOWN and keeps the stream open (%s)', async (kind) => {
    const client = createRpcClient(kind, server.baseUrl, { service: Health });
    try {
      // Cut off by the client after 500 ms (grpc-js reports no error, connect-es canceled): the
      // server had not ended it.
      const watched = await client.stream('Watch', { service: 'parley.v1.Nope' }, { timeoutMs: 500 });
      expect(watched.responses).toEqual([{ status: 'SERVICE_UNKNOWN' }]);
      expect([undefined, Code.Canceled]).toContain(watched.error?.code);
    } finally {
      client.close();
    }
  });
});

describe('health while the database goes away and comes back, and while the instance shuts down', () => {
  let postgres: RestartablePostgres;

  beforeAll(async () => {
    postgres = await startRestartablePostgres();
  });

  afterAll(async () => {
    await postgres?.destroy();
  });

  it('reports NOT_SERVING while PostgreSQL is down and SERVING once it is back, to Check and to every Watch; a shutdown ends the watches after NOT_SERVING', async () => {
    const server = await startTestApp({ PARLEY_HEALTH_PROBE_MS: '100', PARLEY_SHUTDOWN_GRACE_MS: '0' }, { databaseUrl: postgres.url });
    const clients = CLIENT_KINDS.map((kind) => createRpcClient(kind, server.baseUrl, { service: Health }));
    const checker = createRpcClient('grpc-js', server.baseUrl, { service: Health });
    let closed = false;
    try {
      const seen = clients.map(() => [] as string[]);
      const until = async (status: string) => {
        for (let waited = 0; waited < 20_000; waited += 50) {
          if (seen.every((statuses) => statuses.at(-1) === status)) return;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        throw new Error(`not every watch saw ${status}: ${JSON.stringify(seen)}`);
      };
      const watches = clients.map((client, i) =>
        client.stream('Watch', { service: SERVICE }, {
          timeoutMs: 60_000,
          onResponse: (response) => seen[i]!.push((response as { status: string }).status),
        }),
      );
      await until('SERVING');

      await postgres.stop();
      await until('NOT_SERVING');
      expect(await checker.unary('Check', {})).toEqual({ ok: true, response: { status: 'NOT_SERVING' } });
      expect((await fetch(`${server.baseUrl}/readyz`)).status).toBe(503);

      await postgres.start();
      await until('SERVING');
      expect(await checker.unary('Check', {})).toEqual({ ok: true, response: { status: 'SERVING' } });

      closed = true;
      await server.app.close();
      const ended = await Promise.all(watches);
      for (const [i, result] of ended.entries()) {
        expect({ client: CLIENT_KINDS[i], statuses: seen[i], code: result.error?.code }).toEqual({
          client: CLIENT_KINDS[i],
          // Each change once, in order: no repeats of a status that did not change.
          statuses: ['SERVING', 'NOT_SERVING', 'SERVING', 'NOT_SERVING'],
          code: Code.Unavailable,
        });
      }
    } finally {
      for (const client of [...clients, checker]) client.close();
      if (!closed) await server.app.close();
    }
  });
});

it('reports NOT_SERVING from the start of a graceful shutdown, while the last prompts still run and the port still answers', async () => {
  const emulator = new AnthropicEmulator();
  const url = await emulator.start();
  const server = await startTestApp({ ANTHROPIC_API_KEY: 'test-key', ANTHROPIC_BASE_URL: url, PARLEY_SHUTDOWN_GRACE_MS: '3000' });
  const client = createRpcClient('connect-node/grpc', server.baseUrl, { service: Health });
  try {
    emulator.enqueue(stallAfter(3, textTurn('still streaming when the shutdown begins')));
    const api = conversationApi(createRpcClient('connect-node/connect', server.baseUrl));
    await api.send(await api.create(), 'please answer');
    await emulator.waitForRequests(1);
    expect(await client.unary('Check', {})).toEqual({ ok: true, response: { status: 'SERVING' } });
    const closing = server.app.close();
    expect(await client.unary('Check', {})).toEqual({ ok: true, response: { status: 'NOT_SERVING' } });
    expect((await fetch(`${server.baseUrl}/readyz`)).status).toBe(503);
    await closing;
  } finally {
    client.close();
    await emulator.close();
  }
});
