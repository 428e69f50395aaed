// Connection discipline on both protocols, with real sockets: a trickled HTTP/1.1 head gets 408,
// idle connections of either protocol are closed, HTTP/2 advertises its stream cap, and past the
// connection cap a new connection is closed as it arrives.
import http2 from 'node:http2';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../support/app.ts';

let server: TestApp;

beforeAll(async () => {
  server = await startTestApp({
    PARLEY_HEADERS_TIMEOUT_MS: '500',
    PARLEY_REQUEST_BODY_TIMEOUT_MS: '500',
    PARLEY_KEEP_ALIVE_TIMEOUT_MS: '300',
    PARLEY_HTTP2_MAX_STREAMS: '5',
    PARLEY_HTTP2_IDLE_TIMEOUT_MS: '1000',
    PARLEY_HEARTBEAT_MS: '500',
    PARLEY_MAX_CONNECTIONS: '4',
  });
});

afterAll(async () => {
  await server?.close();
});

/** A raw connection: what it received, and when it was closed (ms after it opened). */
function raw(): Promise<{ socket: net.Socket; received: () => string; closed: Promise<number> }> {
  return new Promise((resolve, reject) => {
    const opened = Date.now();
    let text = '';
    const socket = net.connect(server.port, '127.0.0.1', () => resolve({ socket, received: () => text, closed }));
    const closed = new Promise<number>((done) => socket.on('close', () => done(Date.now() - opened)));
    socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
    socket.on('error', () => undefined);
    socket.once('error', reject);
  });
}

describe('connections', () => {
  it('an HTTP/1.1 head trickled byte by byte gets 408 within the head timeout', async () => {
    const { socket, received, closed } = await raw();
    socket.write('POST /parley.v1.ConversationService/ListConversations HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    const trickle = setInterval(() => socket.writable && socket.write('x'), 100);
    try {
      const after = await closed;
      expect(received()).toMatch(/^HTTP\/1\.1 408/);
      expect(after).toBeLessThan(3_000);
    } finally {
      clearInterval(trickle);
    }
  });

  it('an HTTP/1.1 body that never ends gets 408 within the body timeout', async () => {
    const { socket, received, closed } = await raw();
    socket.write('POST /parley.v1.ConversationService/ListConversations HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{');
    expect(await closed).toBeLessThan(3_000);
    expect(received()).toMatch(/408/);
  });

  it('an idle HTTP/1.1 keep-alive connection is closed after the keep-alive timeout, after its answer', async () => {
    const { socket, received, closed } = await raw();
    socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    const after = await closed;
    expect(received()).toMatch(/^HTTP\/1\.1 200/);
    expect(after).toBeLessThan(3_000);
  });

  it('HTTP/2 advertises the stream cap, and an idle session is closed after the idle timeout', async () => {
    const session = http2.connect(`http://127.0.0.1:${server.port}`);
    const opened = Date.now();
    const settings = await new Promise<http2.Settings>((resolve) => session.once('remoteSettings', resolve));
    expect(settings.maxConcurrentStreams).toBe(5);
    await new Promise((resolve) => session.once('close', resolve));
    expect(Date.now() - opened).toBeLessThan(5_000);
  });

  it('past the connection cap, a new connection is closed as it arrives; the port serves again below it', async () => {
    const held = await Promise.all(Array.from({ length: 4 }, () => raw()));
    const extra = await raw();
    expect(await extra.closed).toBeLessThan(2_000);
    expect(extra.received()).toBe('');
    for (const connection of held) connection.socket.destroy();
    await Promise.all(held.map((connection) => connection.closed));
    const again = await raw();
    again.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
    await again.closed;
    expect(again.received()).toMatch(/^HTTP\/1\.1 200/);
  });
});
