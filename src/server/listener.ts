import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { guardHttp1, type ConnectionLimits } from './connection-limits.ts';

type Handler = (
  req: http.IncomingMessage | http2.Http2ServerRequest,
  res: http.ServerResponse | http2.Http2ServerResponse,
) => void;

export interface Listener {
  /** The bound port (useful when asked for port 0). */
  port: number;
  /**
   * Stops accepting connections; lets responses under way finish for up to `drainMs`, then
   * closes every connection that is left.
   */
  close(drainMs?: number): Promise<void>;
}

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
const ROUTING_TIMEOUT_MS = 10_000;

/**
 * Serves HTTP/1.1 and HTTP/2 cleartext (h2c with prior knowledge, as gRPC clients speak it) on
 * one port. Node's `allowHTTP1` only works with TLS, so each connection's first bytes decide
 * which server gets the socket.
 */
export async function listen(handler: Handler, host: string, port: number, limits: ConnectionLimits): Promise<Listener> {
  const h1 = http.createServer(handler);
  const h2 = http2.createServer({ settings: { maxConcurrentStreams: limits.http2MaxConcurrentStreams } }, handler);
  const guard = guardHttp1(h1, limits);
  const sockets = new Set<net.Socket>();
  /** Connections that have not sent their first bytes yet. */
  const unrouted = new Set<net.Socket>();
  /** HTTP/1.1 connections, with their responses under way. */
  const h1Sockets = new Map<net.Socket, number>();
  let closing = false;

  const front = net.createServer((socket) => {
    sockets.add(socket);
    unrouted.add(socket);
    socket.on('close', () => {
      sockets.delete(socket);
      unrouted.delete(socket);
      h1Sockets.delete(socket);
    });
    // Until a server owns the socket nothing else listens for its errors: a reset before the
    // first byte (port scanners, load balancer probes) must not crash the process.
    socket.on('error', () => socket.destroy());
    // A connection that never says which protocol it speaks is dropped.
    const silent = () => socket.destroy();
    socket.setTimeout(ROUTING_TIMEOUT_MS, silent);
    let head = Buffer.alloc(0);
    socket.on('readable', function route() {
      for (let chunk = socket.read() as Buffer | null; chunk !== null; chunk = socket.read() as Buffer | null) {
        head = Buffer.concat([head, chunk]);
      }
      if (head.length === 0) return;
      // A partial HTTP/2 preface: keep what came and wait for the next bytes (which fire
      // 'readable' again; the buffer is empty until they arrive).
      if (head.length < H2_PREFACE.length && H2_PREFACE.subarray(0, head.length).equals(head)) return;
      socket.off('readable', route);
      unrouted.delete(socket);
      socket.setTimeout(0);
      socket.off('timeout', silent);
      socket.unshift(head);
      const target = head.subarray(0, H2_PREFACE.length).equals(H2_PREFACE) ? h2 : h1;
      if (target === h1) h1Sockets.set(socket, 0);
      target.emit('connection', socket);
      if (target === h1) guard(socket);
    });
  });

  // Past the cap a connection is closed as it arrives, before it costs more than its socket.
  front.maxConnections = limits.maxConnections;
  await new Promise<void>((resolve, reject) => {
    front.once('error', reject);
    front.listen(port, host, () => {
      front.off('error', reject);
      resolve();
    });
  });
  const address = front.address();
  const boundPort = typeof address === 'object' && address ? address.port : port;

  // The HTTP/1.1 server never listens itself, so Node does not track its connections and its
  // closeIdleConnections() does nothing: keep-alive connections are tracked here.
  h1.prependListener('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const socket = req.socket;
    // A keep-alive client that sends one more request while the port drains gets its answer
    // and the connection closed with it.
    if (closing) res.shouldKeepAlive = false;
    h1Sockets.set(socket, (h1Sockets.get(socket) ?? 0) + 1);
    res.once('close', () => {
      const left = Math.max(0, (h1Sockets.get(socket) ?? 1) - 1);
      if (h1Sockets.has(socket)) h1Sockets.set(socket, left);
      if (closing && left === 0) socket.end();
    });
  });

  const sessions = new Set<http2.ServerHttp2Session>();
  h2.on('session', (session) => {
    sessions.add(session);
    // Silence either way for this long (Subscribe sends heartbeats): the session goes, gracefully.
    session.setTimeout(limits.http2IdleTimeoutMs, () => session.close());
    session.on('close', () => sessions.delete(session));
  });

  return {
    port: boundPort,
    close: (drainMs = 0) =>
      new Promise<void>((resolve) => {
        closing = true;
        const force = setTimeout(() => {
          for (const socket of sockets) socket.destroy();
        }, drainMs);
        // Resolves once every connection is gone: the front server counts the sockets it handed on.
        front.close(() => {
          clearTimeout(force);
          resolve();
        });
        // GOAWAY: clients open no new streams here, and the streams still open finish first.
        for (const session of sessions) session.close();
        // Connections with no request under way, or that have not said a word yet, go now;
        // the others as soon as their last response is done.
        for (const [socket, inFlight] of h1Sockets) if (inFlight === 0) socket.end();
        for (const socket of unrouted) socket.destroy();
      }),
  };
}
