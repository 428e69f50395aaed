import type http from 'node:http';
import type http2 from 'node:http2';
import type { ConnectRouter, Interceptor } from '@connectrpc/connect';
import { requestIdFrom, withLogContext } from '../log-context.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import { corsFor } from './cors.ts';
import { METRICS_PATH, serveMetrics } from './metrics-route.ts';
import { hostOf, isAllowedHost, type OpenInstanceOptions } from './open-instance.ts';
import { rpcHandler } from './rpc-handler.ts';

type Request = http.IncomingMessage | http2.Http2ServerRequest;
type Response = http.ServerResponse | http2.Http2ServerResponse;

export interface HttpHandlerOptions {
  routes: (router: ConnectRouter) => void;
  interceptors: Interceptor[];
  corsOrigins: readonly string[];
  /** Whether the service can do its work now (for `/readyz`). */
  ready: () => Promise<boolean>;
  /** What an instance that runs open refuses (see open-instance.ts). */
  open: OpenInstanceOptions;
  /** Served at GET /metrics on this port; null when they have a port of their own (or none). */
  metrics: Metrics | null;
  logger: Logger;
}

/**
 * The one request handler behind the port: CORS, health endpoints, then every RPC over gRPC,
 * gRPC-Web and Connect.
 */
export function httpHandler(options: HttpHandlerOptions) {
  const cors = corsFor(options.corsOrigins, options.logger);
  // `*` holds only while callers must authenticate; open, only the origins named explicitly.
  const openCors = corsFor(options.corsOrigins.filter((origin) => origin !== '*'), options.logger);
  const rpc = rpcHandler({
    routes: options.routes,
    interceptors: options.interceptors,
    logger: options.logger,
    // 4 MiB, gRPC's customary limit: anything larger is a mistake or an attack.
    readMaxBytes: 4 * 1024 * 1024,
  });
  return (req: Request, res: Response) => {
    // Set before anything answers, so that every answer carries it, whatever protocol: the
    // caller's id (or the one made for it) ties its call to our log lines.
    const requestId = requestIdFrom(req.headers[REQUEST_ID]);
    res.setHeader(REQUEST_ID, requestId);
    withLogContext({ requestId }, () => route(req, res));
  };

  function route(req: Request, res: Response): void {
    if (req.method === 'GET' && (req.url === '/healthz' || req.url === '/readyz')) {
      void health(req.url === '/readyz' ? options.ready : async () => true, res);
      return;
    }
    if (options.metrics && req.url?.split('?', 1)[0] === METRICS_PATH) {
      serveMetrics(options.metrics, req, res);
      return;
    }
    void options.open.isOpen().then(
      (open) => serve(req, res, open),
      // Unknown (the database is away): as if open, the safer of the two; the call itself then fails.
      () => serve(req, res, true),
    );
  }

  function serve(req: Request, res: Response, open: boolean): void {
    // No Host at all is no browser (they always send one): such a request is answered as before.
    const host = hostOf(req.headers);
    if (open && host !== '' && !isAllowedHost(host, options.open.allowedHosts)) {
      refuseHost(res);
      return;
    }
    const decision = (open ? openCors : cors)(req.method, req.headers);
    for (const [name, value] of Object.entries(decision.headers)) res.setHeader(name, value);
    if (decision.preflight) {
      res.statusCode = 204;
      res.end();
      return;
    }
    rpc(req, res);
  }
}

const REQUEST_ID = 'x-request-id';

/**
 * Forbidden, as a Connect error body: every client reads it as permission_denied (gRPC clients
 * map HTTP 403 to it too).
 */
function refuseHost(res: Response): void {
  res.statusCode = 403;
  res.setHeader('content-type', 'application/json');
  res.end(
    JSON.stringify({
      code: 'permission_denied',
      message: 'this instance runs without authentication and serves loopback host names only; add the name to PARLEY_ALLOWED_HOSTS, or create an API key',
    }),
  );
}

async function health(check: () => Promise<boolean>, res: Response): Promise<void> {
  const ok = await check().catch(() => false);
  res.statusCode = ok ? 200 : 503;
  res.setHeader('content-type', 'text/plain');
  res.end(ok ? 'ok\n' : 'not ready\n');
}
