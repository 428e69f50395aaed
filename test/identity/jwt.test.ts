// JWTs minted by the team's own backend: verified against its public key (issuer, audience,
// expiry, algorithm), each acting for one subject, who sees only their own conversations; the
// tenant's API key sees them all, and may act for one subject with `parley-subject`.
import type { JsonObject } from '@bufbuild/protobuf';
import { Code } from '@connectrpc/connect';
import { exportSPKI, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../support/app.ts';
import { CLIENT_KINDS, createRpcClient, type RpcClient } from '../support/clients.ts';
import { conversationApi } from '../support/conversation.ts';

const ISSUER = 'https://auth.test.example';
const AUDIENCE = 'parley';

let server: TestApp;
let signingKey: CryptoKey;
let tenantKey: string;

beforeAll(async () => {
  const pair = await generateKeyPair('ES256');
  signingKey = pair.privateKey;
  server = await startTestApp({
    PARLEY_JWT_PUBLIC_KEY: await exportSPKI(pair.publicKey),
    PARLEY_JWT_ISSUER: ISSUER,
    PARLEY_JWT_AUDIENCE: AUDIENCE,
    PARLEY_MAX_CONCURRENT_PROMPTS: '0',
  });
  tenantKey = (await server.app.stores.apiKeys.create('acme')).key;
});

afterAll(async () => {
  await server?.close();
});

function mint(claims: JsonObject, options: { key?: CryptoKey; expires?: string; issuer?: string; audience?: string } = {}): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'ES256' })
    .setIssuer(options.issuer ?? ISSUER)
    .setAudience(options.audience ?? AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(options.expires ?? '5m')
    .sign(options.key ?? signingKey);
}

async function listed(client: RpcClient): Promise<string[]> {
  const result = await client.unary('ListConversations', { pageSize: 100 });
  if (!result.ok) throw new Error(`ListConversations: ${result.message}`);
  return (((result.response as JsonObject).conversations ?? []) as Array<{ id: string }>).map((c) => c.id);
}

describe('JWTs', () => {
  it('act for their subject: each sees only their own conversations, over every client', async () => {
    for (const kind of CLIENT_KINDS) {
      const alice = createRpcClient(kind, server.baseUrl, { token: await mint({ tenant: 'acme', sub: `alice-${kind}` }) });
      const bob = createRpcClient(kind, server.baseUrl, { token: await mint({ tenant: 'acme', sub: `bob-${kind}` }) });
      const tenant = createRpcClient(kind, server.baseUrl, { token: tenantKey });
      try {
        const mine = await conversationApi(alice).create({}, 'alice only');
        expect(await listed(alice)).toEqual([mine]);
        expect(await listed(bob)).toEqual([]);
        for (const [method, request] of [
          ['GetConversation', { conversationId: mine }],
          ['SendMessage', { conversationId: mine, text: 'from bob' }],
          ['UpdateConversation', { conversationId: mine, title: 'bob was here' }],
          ['DeleteConversation', { conversationId: mine }],
        ] as const) {
          const result = await bob.unary(method, request);
          expect(result.ok === false && result.code, `${kind} ${method}`).toBe(Code.NotFound);
        }
        expect((await bob.stream('Subscribe', { conversationId: mine }, { timeoutMs: 5_000 })).error?.code).toBe(Code.NotFound);
        // The tenant's key sees every subject's conversation.
        expect(await listed(tenant)).toContain(mine);
        expect((await tenant.unary('GetConversation', { conversationId: mine })).ok).toBe(true);
        expect(((await alice.unary('GetConversation', { conversationId: mine })).ok)).toBe(true);
      } finally {
        alice.close();
        bob.close();
        tenant.close();
      }
    }
  });

  it('let a tenant key act for one subject with parley-subject', async () => {
    const carol = createRpcClient('connect-node/connect', server.baseUrl, { token: await mint({ tenant: 'acme', sub: 'carol' }) });
    const asCarol = createRpcClient('grpc-js', server.baseUrl, { token: tenantKey, headers: { 'parley-subject': 'carol' } });
    const asDave = createRpcClient('grpc-js', server.baseUrl, { token: tenantKey, headers: { 'parley-subject': 'dave' } });
    try {
      const id = await conversationApi(asCarol).create({}, 'made for carol');
      expect(await listed(carol)).toContain(id);
      expect(await listed(asDave)).not.toContain(id);
    } finally {
      carol.close();
      asCarol.close();
      asDave.close();
    }
  });

  it('refuse tokens that are expired, for another issuer or audience, signed by another key, unsigned, or without a tenant', async () => {
    const stranger = await generateKeyPair('ES256');
    const header = (object: JsonObject) => Buffer.from(JSON.stringify(object)).toString('base64url');
    const bad = [
      await mint({ tenant: 'acme', sub: 'eve' }, { expires: '-2m' }),
      await mint({ tenant: 'acme', sub: 'eve' }, { issuer: 'https://elsewhere.example' }),
      await mint({ tenant: 'acme', sub: 'eve' }, { audience: 'someone-else' }),
      await mint({ tenant: 'acme', sub: 'eve' }, { key: stranger.privateKey }),
      await mint({ sub: 'eve' }),
      `${header({ alg: 'none' })}.${header({ tenant: 'acme', sub: 'eve', iss: ISSUER, aud: AUDIENCE, exp: Math.floor(Date.now() / 1000) + 300 })}.`,
    ];
    for (const token of bad) {
      const client = createRpcClient('connect-node/grpc', server.baseUrl, { token });
      try {
        const result = await client.unary('CreateConversation', { title: 'must not exist' });
        expect(result.ok === false && [result.code, result.message]).toEqual([Code.Unauthenticated, 'invalid credentials']);
      } finally {
        client.close();
      }
    }
    // A JWT may not act for another subject.
    const mallory = createRpcClient('grpc-js', server.baseUrl, { token: await mint({ tenant: 'acme', sub: 'mallory' }), headers: { 'parley-subject': 'carol' } });
    try {
      const result = await mallory.unary('ListConversations', {});
      expect(result.ok === false && result.code).toBe(Code.Unauthenticated);
    } finally {
      mallory.close();
    }
    // With an issuer configured the instance never runs open.
    const anonymous = createRpcClient('grpc-js', server.baseUrl);
    try {
      const result = await anonymous.unary('ListConversations', {});
      expect(result.ok === false && result.code).toBe(Code.Unauthenticated);
    } finally {
      anonymous.close();
    }
  });
});
