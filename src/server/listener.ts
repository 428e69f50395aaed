import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';

type Handler = (
  req: http.IncomingMessage | http2.Http2ServerRequest,
  res: http.ServerResponse | http2.Http2ServerResponse,
) => void;

export interface Listener {
  /** The bound port (useful when asked for port 0). */
  port: number;
  close(): Promise<void>;
}

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
const ROUTING_TIMEOUT_MS = 10_000;

/**
 * Serves HTTP/1.1 and HTTP/2 cleartext (h2c with prior knowledge, as gRPC clients speak it) on
 * one port. Node's `allowHTTP1` only works with TLS, so each connection's first bytes decide
 * which server gets the socket.
 */
export async function listen(handler: Handler, host: string, port: number): Promise<Listener> {
  const h1 = http.createServer(handler);
  const h2 = http2.createServer({}, handler);
  const sockets = new Set<net.Socket>();

  const front = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
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
      socket.setTimeout(0);
      socket.off('timeout', silent);
      socket.unshift(head);
      const target = head.subarray(0, H2_PREFACE.length).equals(H2_PREFACE) ? h2 : h1;
      target.emit('connection', socket);
    });
  });

  await new Promise<void>((resolve, reject) => {
    front.once('error', reject);
    front.listen(port, host, () => {
      front.off('error', reject);
      resolve();
    });
  });
  const address = front.address();
  const boundPort = typeof address === 'object' && address ? address.port : port;

  return {
    port: boundPort,
    close: () =>
      new Promise<void>((resolve) => {
        front.close(() => resolve());
        h1.closeAllConnections();
        // Idle HTTP/2 sessions would otherwise hold the close open indefinitely.
        for (const socket of sockets) socket.destroy();
      }),
  };
}
