import http from 'node:http';
import type http2 from 'node:http2';
import type { Metrics } from '../observability/metrics.ts';

type Request = http.IncomingMessage | http2.Http2ServerRequest;
type Response = http.ServerResponse | http2.Http2ServerResponse;

export const METRICS_PATH = '/metrics';

/** `GET /metrics`: the Prometheus exposition text. Any other method: 405, naming GET. */
export function serveMetrics(metrics: Metrics, req: Request, res: Response): void {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.statusCode = 405;
    res.setHeader('allow', 'GET, HEAD');
    res.setHeader('content-type', 'text/plain');
    res.end('405 method not allowed: GET /metrics\n');
    return;
  }
  metrics.exposition().then(
    ({ contentType, body }) => {
      res.statusCode = 200;
      res.setHeader('content-type', contentType);
      res.end(req.method === 'HEAD' ? '' : body);
    },
    () => {
      res.statusCode = 500;
      res.setHeader('content-type', 'text/plain');
      res.end('the metrics could not be collected\n');
    },
  );
}

/**
 * /metrics on a port of its own (PARLEY_METRICS_PORT), for a scraper kept off the service
 * port: plain HTTP/1.1, nothing else served. Resolves with the port bound.
 */
export async function listenForMetrics(metrics: Metrics, host: string, port: number): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    if (req.url?.split('?', 1)[0] === METRICS_PATH) return serveMetrics(metrics, req, res);
    res.statusCode = 404;
    res.end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
