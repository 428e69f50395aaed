// An instance running open (no key yet) refuses requests whose Host is not its own (DNS
// rebinding) and does not echo every origin for CORS `*`; once a key exists, both are lifted.
import http from 'node:http';
import http2 from 'node:http2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../support/app.ts';

let server: TestApp;

beforeAll(async () => {
  server = await startTestApp({ CORS_ORIGINS: '*', PARLEY_ALLOWED_HOSTS: 'parley.internal', PARLEY_AUTH_CACHE_MS: '0' });
});

afterAll(async () => {
  await server?.close();
});

const LIST = '/parley.v1.ConversationService/ListConversations';

function http1(host: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      { host: '127.0.0.1', port: server.port, path: LIST, method: 'POST', headers: { host, 'content-type': 'application/json', ...headers } },
      (response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk.toString()));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }));
      },
    );
    request.on('error', reject);
    request.end('{}');
  });
}

function http2Status(authority: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${server.port}`);
    session.on('error', reject);
    const stream = session.request({ ':method': 'POST', ':path': LIST, ':authority': authority, 'content-type': 'application/json' });
    stream.on('response', (headers) => {
      resolve(Number(headers[':status']));
      stream.close();
      session.close();
    });
    stream.on('error', reject);
    stream.end('{}');
  });
}

describe('an instance running open', () => {
  it('answers loopback and configured host names, and refuses any other with permission_denied', async () => {
    expect((await http1(`127.0.0.1:${server.port}`)).status).toBe(200);
    expect((await http1(`localhost:${server.port}`)).status).toBe(200);
    expect((await http1('parley.internal:8080')).status).toBe(200);
    const rebound = await http1('evil.example:8080');
    expect(rebound.status).toBe(403);
    expect(JSON.parse(rebound.body)).toMatchObject({ code: 'permission_denied' });
    expect(await http2Status(`127.0.0.1:${server.port}`)).toBe(200);
    expect(await http2Status('evil.example')).toBe(403);
  });

  it('does not echo an arbitrary origin for CORS_ORIGINS=*', async () => {
    const response = await http1(`127.0.0.1:${server.port}`, { origin: 'https://evil.example' });
    expect(response.status).toBe(200);
    expect(response.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('lifts both once a key exists: every caller then authenticates', async () => {
    await server.app.stores.apiKeys.create('acme');
    const anonymous = await http1('evil.example:8080', { origin: 'https://app.example' });
    // Not refused for its Host any more, but for its missing credentials.
    expect(anonymous.status).toBe(401);
    expect(JSON.parse(anonymous.body)).toMatchObject({ code: 'unauthenticated' });
    expect(anonymous.headers['access-control-allow-origin']).toBe('https://app.example');
  });
});
