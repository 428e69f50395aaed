import type http from 'node:http';
import type http2 from 'node:http2';
import type { ConnectRouter, Interceptor } from '@connectrpc/connect';
import type { Logger } from '../logger.ts';
import { corsFor } from './cors.ts';
import { rpcHandler } from './rpc-handler.ts';

type Request = http.IncomingMessage | http2.Http2ServerRequest;
type Response = http.ServerResponse | http2.Http2ServerResponse;

export interface HttpHandlerOptions {
  routes: (router: ConnectRouter) => void;
  interceptors: Interceptor[];
  corsOrigins: readonly string[];
  /** Whether the service can do its work now (for `/readyz`). */
  ready: () => Promise<boolean>;
  logger: Logger;
}

/**
 * The one request handler behind the port: CORS, health endpoints, then every RPC over gRPC,
 * gRPC-Web and Connect.
 */
export function httpHandler(options: HttpHandlerOptions) {
  const cors = corsFor(options.corsOrigins);
  const rpc = rpcHandler({
    routes: options.routes,
    interceptors: options.interceptors,
    logger: options.logger,
    // 4 MiB, gRPC's customary limit: anything larger is a mistake or an attack.
    readMaxBytes: 4 * 1024 * 1024,
  });
  return (req: Request, res: Response) => {
    const decision = cors(req.method, req.headers);
    for (const [name, value] of Object.entries(decision.headers)) res.setHeader(name, value);
    if (decision.preflight) {
      res.statusCode = 204;
      res.end();
      return;
    }
    if (req.method === 'GET' && (req.url === '/healthz' || req.url === '/readyz')) {
      void health(req.url === '/readyz' ? options.ready : async () => true, res);
      return;
    }
    rpc(req, res);
  };
}

async function health(check: () => Promise<boolean>, res: Response): Promise<void> {
  const ok = await check().catch(() => false);
  res.statusCode = ok ? 200 : 503;
  res.setHeader('content-type', 'text/plain');
  res.end(ok ? 'ok\n' : 'not ready\n');
}
