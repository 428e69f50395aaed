// API keys over every client: open until the first key exists, then credentials on every call
// (Subscribe included); bad credentials of every shape are unauthenticated and write nothing; a
// revoked key stops working on another instance; no key and a public address refuse to start.
import { ownerOf } from '../support/owner.ts';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { Code } from '@connectrpc/connect';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { CLIENT_KINDS, createRpcClient, type RpcClient } from '../support/clients.ts';

const run = promisify(execFile);
const NODE = process.execPath;
const KEYS_CLI = path.resolve(import.meta.dirname, '../../src/cli/keys.ts');

let server: TestApp;

beforeAll(async () => {
  server = await startTestApp({ PARLEY_AUTH_CACHE_MS: '50' });
});

afterAll(async () => {
  await server?.close();
});

async function conversationCount(): Promise<number> {
  const rows = await server.app.stores.conversations.list(ownerOf('tenant-a'), 100, null);
  return rows.conversations.length;
}

async function keys(...args: string[]): Promise<{ stdout: string; code: number }> {
  try {
    const { stdout } = await run(NODE, [KEYS_CLI, ...args], { env: { ...process.env, DATABASE_URL: server.databaseUrl } });
    return { stdout, code: 0 };
  } catch (error) {
    const failed = error as { stdout: string; code: number };
    return { stdout: failed.stdout, code: failed.code };
  }
}

/** `parley_<12-character prefix>_<secret>`; the secret is base64url and may hold `_`. */
function prefixOf(key: string): string {
  return key.slice('parley_'.length, 'parley_'.length + 12);
}

function secretOf(key: string): string {
  return key.slice('parley_'.length + 13);
}

function using(kind: (typeof CLIENT_KINDS)[number], options: Parameters<typeof createRpcClient>[2], work: (client: RpcClient) => Promise<void>): Promise<void> {
  const client = createRpcClient(kind, server.baseUrl, options);
  return work(client).finally(() => client.close());
}

describe('API keys', () => {
  let key = '';

  it('serve every caller as tenant default while no key exists', async () => {
    for (const kind of CLIENT_KINDS) {
      await using(kind, {}, async (client) => {
        expect((await client.unary('ListConversations', {})).ok).toBe(true);
      });
    }
  });

  it('are made by the keys command, which prints the key as its last line', async () => {
    const created = await keys('create', '--tenant', 'tenant-a');
    expect(created.code).toBe(0);
    key = created.stdout.trim().split('\n').at(-1)!;
    expect(key).toMatch(/^parley_[0-9A-Za-z]{12}_[0-9A-Za-z_-]{43}$/);
    expect((await keys('list')).stdout).toContain(`${prefixOf(key)}  tenant-a`);
    expect((await keys('create')).code).toBe(2);
    // Stored as a hash only.
    const stored = await server.app.stores.apiKeys.find(prefixOf(key));
    expect(stored?.secretHash).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(stored)).not.toContain(secretOf(key));
  });

  it('once one exists, every call needs credentials, on every client, Subscribe too', async () => {
    await new Promise((resolve) => setTimeout(resolve, 100)); // past PARLEY_AUTH_CACHE_MS
    for (const kind of CLIENT_KINDS) {
      await using(kind, {}, async (client) => {
        const refused = await client.unary('ListConversations', {});
        expect(refused.ok === false && refused.code).toBe(Code.Unauthenticated);
        const stream = await client.stream('Subscribe', { conversationId: '01000000-0000-7000-8000-000000000000' }, { timeoutMs: 5_000 });
        expect(stream.error?.code).toBe(Code.Unauthenticated);
      });
      await using(kind, { token: key }, async (client) => {
        const created = await client.unary('CreateConversation', { title: `by ${kind}` });
        expect(created.ok).toBe(true);
        const id = created.ok ? ((created.response as { conversation: { id: string } }).conversation.id) : '';
        const stream = await client.stream('Subscribe', { conversationId: id }, { take: 1 });
        expect(stream.responses).toHaveLength(1);
      });
    }
    expect(await conversationCount()).toBe(CLIENT_KINDS.length);
  });

  it('refuses bad credentials of every shape with unauthenticated, writes nothing, and stays up', async () => {
    const secret = secretOf(key);
    const wrongSecret = `parley_${prefixOf(key)}_${secret.startsWith('A') ? 'B' : 'A'}${secret.slice(1)}`;
    const unsignedJwt = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"sub":"x"}').toString('base64url')}.`;
    const shapes = [
      `Basic ${Buffer.from('user:pass').toString('base64')}`,
      'Bearer',
      'Bearer ',
      `Bearer ${'x'.repeat(10_000)}`,
      `Bearer parley_${'A'.repeat(12)}_${'A'.repeat(43)}`,
      `Bearer ${wrongSecret}`,
      `Bearer ${unsignedJwt}`,
      `Bearer ${key} trailing`,
    ];
    const before = await conversationCount();
    for (const kind of CLIENT_KINDS) {
      for (const authorization of shapes) {
        await using(kind, { authorization }, async (client) => {
          const result = await client.unary('CreateConversation', { title: 'should not exist' });
          expect(result.ok, `${kind}: ${authorization.slice(0, 40)}`).toBe(false);
          expect(result.ok === false && [result.code, result.message]).toEqual([Code.Unauthenticated, expect.stringMatching(/^(invalid credentials|credentials required.*)$/)]);
        });
      }
    }
    expect(await conversationCount()).toBe(before);
    await using('grpc-js', { token: key }, async (client) => expect((await client.unary('ListConversations', {})).ok).toBe(true));
  });

  it('stop working on another instance within seconds of being revoked', async () => {
    const second = await startTestApp({}, { databaseUrl: server.databaseUrl }); // the default cache of 2 s
    try {
      const client = createRpcClient('grpc-js', second.baseUrl, { token: key });
      try {
        expect((await client.unary('ListConversations', {})).ok).toBe(true);
        expect((await keys('revoke', prefixOf(key))).code).toBe(0);
        expect((await keys('revoke', prefixOf(key))).code).toBe(2);
        const revokedAt = Date.now();
        let refused = false;
        while (!refused && Date.now() - revokedAt < 5_000) {
          const result = await client.unary('ListConversations', {});
          refused = result.ok === false && result.code === Code.Unauthenticated;
          if (!refused) await new Promise((resolve) => setTimeout(resolve, 50));
        }
        expect(refused).toBe(true);
        console.log(`auth: a revoked key was refused by a second instance ${Date.now() - revokedAt} ms after the revoke command returned`);
      } finally {
        client.close();
      }
    } finally {
      await second.app.close();
    }
  });

  it('with no key, an instance bound to a public address refuses to start and says what to do', async () => {
    const fresh = await startTestApp();
    try {
      const config = loadConfig({ LOG_LEVEL: 'silent', HOST: '0.0.0.0', PORT: '0', DATABASE_URL: fresh.databaseUrl });
      await expect(createApp(config)).rejects.toThrow(/No API key exists and HOST=0\.0\.0\.0 is not a loopback address.*npm run keys -- create/);
    } finally {
      await fresh.close();
    }
  });
});
