import type http from 'node:http';
import type net from 'node:net';

/** How long a connection may take over each part of its work before it is closed. */
export interface ConnectionLimits {
  /** From a connection's first byte (or its last response) to a complete request head. */
  headersTimeoutMs: number;
  /** From a request's head to the end of its body. */
  requestTimeoutMs: number;
  /** An HTTP/1.1 connection with nothing under way is closed after this. */
  keepAliveTimeoutMs: number;
  /** Concurrent streams one HTTP/2 connection may open (SETTINGS_MAX_CONCURRENT_STREAMS). */
  http2MaxConcurrentStreams: number;
  /** An HTTP/2 connection with no frame either way for this long is closed (GOAWAY). */
  http2IdleTimeoutMs: number;
  /** Connections the port holds at once; more are closed as they arrive. */
  maxConnections: number;
}

const REQUEST_TIMEOUT = 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n';

type Phase = 'head' | 'body' | 'busy' | 'idle';

/**
 * Timeouts for HTTP/1.1 connections. The HTTP/1.1 server is handed sockets and never listens
 * itself, so Node's own headersTimeout, requestTimeout and keepAliveTimeout (run by a listening
 * server's connection checks) never fire: a client trickling its headers would keep its socket
 * for ever. One timer per connection stands in for them, by phase: a request head awaited
 * (`headersTimeoutMs`, then 408), its body awaited (`requestTimeoutMs`, then 408), a response
 * under way (no timer: a Subscribe stream lasts as long as it lasts), nothing under way
 * (`keepAliveTimeoutMs`, then closed). Call the returned function once the server has the socket.
 */
export function guardHttp1(server: http.Server, limits: ConnectionLimits): (socket: net.Socket) => void {
  const state = new WeakMap<net.Socket, { phase: Phase; timer: NodeJS.Timeout | null }>();
  const enter = (socket: net.Socket, phase: Phase) => {
    const current = state.get(socket);
    if (!current) return;
    if (current.timer) clearTimeout(current.timer);
    current.phase = phase;
    current.timer = null;
    if (phase === 'head' || phase === 'body') current.timer = setTimeout(() => refuse(socket), phase === 'head' ? limits.headersTimeoutMs : limits.requestTimeoutMs).unref();
    if (phase === 'idle') current.timer = setTimeout(() => socket.end(), limits.keepAliveTimeoutMs).unref();
  };

  server.prependListener('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const socket = req.socket;
    if (req.complete) enter(socket, 'busy');
    else {
      enter(socket, 'body');
      // Also emitted when the server drops an unread body after the answer: only a body still
      // awaited moves on.
      req.once('end', () => {
        if (state.get(socket)?.phase === 'body') enter(socket, 'busy');
      });
    }
    res.once('finish', () => {
      if (!socket.destroyed) enter(socket, 'idle');
    });
  });

  return (socket) => {
    state.set(socket, { phase: 'head', timer: null });
    enter(socket, 'head');
    // Bytes after an idle spell: the next request has begun, and its head is on the clock.
    socket.on('data', () => {
      if (state.get(socket)?.phase === 'idle') enter(socket, 'head');
    });
    socket.once('close', () => {
      const current = state.get(socket);
      if (current?.timer) clearTimeout(current.timer);
    });
  };
}

function refuse(socket: net.Socket): void {
  if (socket.writable) socket.end(REQUEST_TIMEOUT);
  // A client that does not read its answer still loses the socket.
  setTimeout(() => socket.destroy(), 1_000).unref();
}
