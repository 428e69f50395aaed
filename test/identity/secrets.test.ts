// No secret reaches a log line or an error message: API keys, JWTs, the database password and
// MCP server environment, with the log at debug level and every authentication error provoked.
import { exportSPKI, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { CLIENT_KINDS, createRpcClient } from '../support/clients.ts';

const lines: string[] = [];
const answers: string[] = [];
let server: TestApp;
const secrets: string[] = [];

beforeAll(async () => {
  const pair = await generateKeyPair('ES256');
  const mcpSecret = 'mcp-env-secret-7f3a9c';
  const urlPassword = 'mcp-url-password-51c2';
  const urlToken = 'mcp-url-token-9d04';
  server = await startTestApp(
    {
      LOG_LEVEL: 'debug',
      PARLEY_JWT_PUBLIC_KEY: await exportSPKI(pair.publicKey),
      PARLEY_JWT_ISSUER: 'https://auth.test.example',
      PARLEY_JWT_AUDIENCE: 'parley',
      // A server that cannot start: its failure is logged, its environment must not be.
      // And one over HTTP with credentials in its URL, on a port where nothing listens.
      PARLEY_MCP_SERVERS: JSON.stringify([
        { name: 'broken', command: '/nonexistent/mcp-server', env: { API_TOKEN: mcpSecret } },
        { name: 'remote', url: `http://mcp-user:${urlPassword}@127.0.0.1:9/mcp?token=${urlToken}` },
      ]),
    },
    { logger: createLogger('debug', (line) => void lines.push(line)) },
  );
  const key = (await server.app.stores.apiKeys.create('acme')).key;
  const sign = (expires: string) =>
    new SignJWT({ tenant: 'acme' }).setProtectedHeader({ alg: 'ES256' }).setSubject('u1').setIssuer('https://auth.test.example').setAudience('parley').setExpirationTime(expires).sign(pair.privateKey);
  const jwt = await sign('5m');
  const expired = await sign('-5m');
  const password = new URL(server.databaseUrl).password;
  secrets.push(key, key.slice('parley_'.length + 13), jwt, expired, mcpSecret, urlPassword, urlToken, password);
  expect(password.length).toBeGreaterThan(4);

  for (const kind of CLIENT_KINDS) {
    for (const token of [key, jwt, expired, `${key}x`, key.replace(/.$/, '_'), jwt.slice(0, -4)]) {
      const client = createRpcClient(kind, server.baseUrl, { token });
      try {
        for (const result of [
          await client.unary('ListConversations', {}),
          await client.unary('GetConversation', { conversationId: 'not-an-id' }),
          await client.unary('SendMessage', { conversationId: '01000000-0000-7000-8000-000000000000', text: 'x' }),
        ]) {
          if (!result.ok) answers.push(result.message);
        }
        const stream = await client.stream('Subscribe', { conversationId: '01000000-0000-7000-8000-000000000000' }, { timeoutMs: 5_000 });
        if (stream.error) answers.push(stream.error.message);
      } finally {
        client.close();
      }
    }
  }
});

afterAll(async () => {
  await server?.close();
});

describe('secrets', () => {
  it('were exercised: errors were answered and logged', () => {
    expect(answers.length).toBeGreaterThan(CLIENT_KINDS.length * 4);
    expect(answers).toContain('invalid credentials');
    expect(lines.some((line) => line.includes('"level":"debug"'))).toBe(true);
    expect(lines.some((line) => line.includes('broken'))).toBe(true);
    expect(lines.some((line) => line.includes('MCP server \\"remote\\" is unavailable'))).toBe(true);
  });

  it('appear in no log line and no error message', () => {
    for (const secret of secrets) {
      expect(lines.filter((line) => line.includes(secret)), `a log line holds ${secret.slice(0, 12)}…`).toEqual([]);
      expect(answers.filter((answer) => answer.includes(secret)), `an answer holds ${secret.slice(0, 12)}…`).toEqual([]);
    }
  });
});
