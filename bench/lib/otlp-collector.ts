/**
 * A stand-in for an OpenTelemetry collector: accepts OTLP/HTTP trace exports on 127.0.0.1 and
 * answers as a collector does (200, an empty ExportTraceServiceResponse), counting what arrived.
 * It decodes nothing: the cost under test is Parley's (making, batching, encoding, posting).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface OtlpCollector {
  url: string;
  readonly stats: { exports: number; bytes: number };
  close(): Promise<void>;
}

export async function startOtlpCollector(): Promise<OtlpCollector> {
  const stats = { exports: 0, bytes: 0 };
  const server = createServer((req, res) => {
    let bytes = 0;
    req.on('data', (chunk: Buffer) => (bytes += chunk.length));
    req.on('end', () => {
      if (req.method === 'POST' && req.url === '/v1/traces') {
        stats.exports += 1;
        stats.bytes += bytes;
        res.writeHead(200, { 'content-type': req.headers['content-type'] ?? 'application/x-protobuf', 'content-length': '0' }).end();
      } else {
        res.writeHead(404).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    stats,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
