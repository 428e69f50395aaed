// PARLEY_REQUEST_TIMEOUT_MS: unary RPCs end with deadline_exceeded at the server's cap or at the
// caller's own shorter deadline; Subscribe is exempt from the cap but honours the caller's
// deadline. A request cut off by its deadline leaves no half-done write.
import { Code, ConnectError, createClient } from '@connectrpc/connect';
import { createConnectTransport, createGrpcTransport } from '@connectrpc/connect-node';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Role } from '../../gen/parley/v1/conversation_pb.ts';
import { ConversationService } from '../../gen/parley/v1/conversation_service_pb.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { createRpcClient } from '../support/clients.ts';

const CAP_MS = 400;
const SERVER_CAP = `the request ran longer than the server's limit of ${CAP_MS} ms`;
// connect-es's own message when the caller's deadline passes.
const CALLER_DEADLINE = 'the operation timed out';

let server: TestApp;

beforeAll(async () => {
  // No prompt runs here: every SendMessage stays queued, so the stored state is easy to check.
  server = await startTestApp({ PARLEY_REQUEST_TIMEOUT_MS: String(CAP_MS), PARLEY_HEARTBEAT_MS: '100', PARLEY_MAX_CONCURRENT_PROMPTS: '0' });
});

afterAll(async () => {
  await server?.close();
});

function clientFor(protocol: 'grpc' | 'connect') {
  const transport =
    protocol === 'grpc' ? createGrpcTransport({ baseUrl: server.baseUrl }) : createConnectTransport({ baseUrl: server.baseUrl, httpVersion: '1.1' });
  return createClient(ConversationService, transport);
}

/**
 * Holds the conversation's row lock, which every SendMessage into it waits for: a request that
 * runs as long as the test wants, without touching the server's code.
 */
async function lockConversation(conversationId: string): Promise<{ release: () => Promise<void> }> {
  const db = new pg.Client({ connectionString: server.databaseUrl });
  await db.connect();
  await db.query('begin');
  await db.query('select id from conversation where id = $1 for update', [conversationId]);
  return {
    async release() {
      await db.query('commit');
      await db.end();
    },
  };
}

async function failure(call: Promise<unknown>): Promise<ConnectError> {
  try {
    await call;
  } catch (error) {
    return ConnectError.from(error);
  }
  throw new Error('the call succeeded');
}

async function userMessages(conversationId: string) {
  const { messages } = await clientFor('grpc').getConversation({ conversationId });
  return messages.filter((m) => m.role === Role.USER);
}

async function newConversation(): Promise<string> {
  return (await clientFor('grpc').createConversation({ title: 'deadlines' })).conversation!.id;
}

describe('request deadlines', () => {
  it("ends a unary call at the server's cap, and the write it had started lands whole or not at all", async () => {
    const conversationId = await newConversation();
    const lock = await lockConversation(conversationId);
    let released = false;
    try {
      for (const protocol of ['grpc', 'connect'] as const) {
        const started = Date.now();
        const error = await failure(clientFor(protocol).sendMessage({ conversationId, text: 'hello', requestId: 'send-1' }));
        expect(error.code).toBe(Code.DeadlineExceeded);
        expect(error.rawMessage).toBe(SERVER_CAP);
        expect(Date.now() - started).toBeGreaterThanOrEqual(CAP_MS - 50);
      }
      // Nothing was stored while the sends waited.
      expect(await userMessages(conversationId)).toEqual([]);
      await lock.release();
      released = true;
    } finally {
      if (!released) await lock.release();
    }

    // The retry the docs prescribe (same request_id) gives one message, however the cut-off
    // sends ended in the background.
    const retried = await clientFor('grpc').sendMessage({ conversationId, text: 'hello', requestId: 'send-1' });
    const stored = await userMessages(conversationId);
    expect(stored.map((m) => m.id)).toEqual([retried.message!.id]);
    expect(stored[0]!.blocks).toHaveLength(1);
    // Its event was written with it: a fresh subscription sees the message and one event for it.
    const grpcJs = createRpcClient('grpc-js', server.baseUrl);
    try {
      const stream = await grpcJs.stream('Subscribe', { conversationId, afterSeq: '0' }, { take: 1, timeoutMs: 5_000 });
      expect(stream.error).toBeNull();
      expect(stream.responses[0]).toMatchObject({ seq: '1', messageQueued: { message: { id: retried.message!.id } } });
    } finally {
      grpcJs.close();
    }
  });

  it("honours the caller's shorter deadline, from grpc-timeout and connect-timeout-ms", async () => {
    const conversationId = await newConversation();
    const lock = await lockConversation(conversationId);
    try {
      // Sent as plain headers, so that the client does not enforce the deadline itself: the
      // answer comes from the server.
      const viaGrpc = await failure(clientFor('grpc').sendMessage({ conversationId, text: 'a' }, { headers: { 'grpc-timeout': '100m' } }));
      expect([viaGrpc.code, viaGrpc.rawMessage]).toEqual([Code.DeadlineExceeded, CALLER_DEADLINE]);
      const viaConnect = await failure(
        clientFor('connect').sendMessage({ conversationId, text: 'b' }, { headers: { 'connect-timeout-ms': '100' } }),
      );
      expect([viaConnect.code, viaConnect.rawMessage]).toEqual([Code.DeadlineExceeded, CALLER_DEADLINE]);
      // A caller's deadline beyond the cap is capped, not refused.
      const longer = await failure(
        clientFor('connect').sendMessage({ conversationId, text: 'c' }, { headers: { 'connect-timeout-ms': '60000' } }),
      );
      expect([longer.code, longer.rawMessage]).toEqual([Code.DeadlineExceeded, SERVER_CAP]);
    } finally {
      await lock.release();
    }
  });

  it('cancels the database work of a request cut off by its deadline: nothing lands once the lock is gone', async () => {
    const conversationId = await newConversation();
    const lock = await lockConversation(conversationId);
    const observer = new pg.Client({ connectionString: server.databaseUrl });
    await observer.connect();
    const waitingSends = async () =>
      Number(
        (await observer.query<{ n: string }>(`select count(*) as n from pg_stat_activity where wait_event_type = 'Lock' and query like 'select subject_id from conversation%'`))
          .rows[0]!.n,
      );
    try {
      const error = await failure(clientFor('grpc').sendMessage({ conversationId, text: 'cut off' }));
      expect(error.code).toBe(Code.DeadlineExceeded);
      // The send's statement was cancelled at the deadline, not left waiting for the lock.
      const deadline = Date.now() + 5_000;
      while ((await waitingSends()) > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(await waitingSends()).toBe(0);
    } finally {
      await lock.release();
      await observer.end();
    }
    // Once the lock is gone, a send left running would store its message now.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await userMessages(conversationId)).toEqual([]);
    // And the pool is whole: the connection the cancel was sent for was not given back.
    expect((await clientFor('grpc').sendMessage({ conversationId, text: 'now it lands' })).message).toBeDefined();
  });

  it('starts no write for a request whose deadline passed before it ran', async () => {
    const conversationId = await newConversation();
    const error = await failure(
      clientFor('connect').sendMessage({ conversationId, text: 'too late', requestId: 'late-1' }, { headers: { 'connect-timeout-ms': '0' } }),
    );
    expect(error.code).toBe(Code.DeadlineExceeded);
    // Long enough for a write in the background to have landed.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await userMessages(conversationId)).toEqual([]);
  });

  it("exempts Subscribe from the server's cap", async () => {
    const conversationId = await newConversation();
    const abort = new AbortController();
    const started = Date.now();
    const cases: string[] = [];
    for await (const response of clientFor('grpc').subscribe({ conversationId }, { signal: abort.signal })) {
      cases.push(response.event.case ?? '');
      if (Date.now() - started > 3 * CAP_MS) break;
    }
    abort.abort();
    expect(cases[0]).toBe('snapshot');
    expect(cases.length).toBeGreaterThan(3);
  });

  it("ends Subscribe with deadline_exceeded at the caller's deadline", async () => {
    const conversationId = await newConversation();
    for (const [protocol, headers] of [
      ['grpc', { 'grpc-timeout': '300m' }],
      ['connect', { 'connect-timeout-ms': '300' }],
    ] as const) {
      const cases: string[] = [];
      const error = await failure(
        (async () => {
          for await (const response of clientFor(protocol).subscribe({ conversationId }, { headers })) cases.push(response.event.case ?? '');
        })(),
      );
      expect([error.code, error.rawMessage]).toEqual([Code.DeadlineExceeded, CALLER_DEADLINE]);
      expect(cases[0]).toBe('snapshot');
    }
    // The streams that ended freed their subscriptions.
    expect(server.app.hub.subscribersOf(conversationId)).toBe(0);
  });

  it('answers quick calls as before', async () => {
    const conversationId = await newConversation();
    const sent = await clientFor('connect').sendMessage({ conversationId, text: 'quick' }, { timeoutMs: 5_000 });
    expect((await userMessages(conversationId)).map((m) => m.id)).toEqual([sent.message!.id]);
  });
});
