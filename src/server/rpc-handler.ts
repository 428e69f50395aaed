import type http from 'node:http';
import type http2 from 'node:http2';
import { Code, ConnectError, createConnectRouter, type ConnectRouter, type Interceptor } from '@connectrpc/connect';
import type { UniversalHandler } from '@connectrpc/connect/protocol';
import { universalRequestFromNodeRequest, universalResponseToNodeResponse } from '@connectrpc/connect-node';
import type { Logger } from '../logger.ts';
import { acceptCompression } from './compression.ts';
import { withSpecGrpcMessage } from './grpc-message.ts';
import { createRequestGuard } from './request-guard.ts';
import { withUnsupportedMediaType } from './unsupported-media-type.ts';
import { endUnreadBody, requestBody } from './unread-body.ts';

type Request = http.IncomingMessage | http2.Http2ServerRequest;
type Response = http.ServerResponse | http2.Http2ServerResponse;

export interface RpcHandlerOptions {
  routes: (router: ConnectRouter) => void;
  interceptors: Interceptor[];
  /** The largest request message, compressed or not. */
  readMaxBytes: number;
  logger: Logger;
}

/**
 * Every RPC over gRPC, gRPC-Web and Connect: what connectNodeAdapter does (same router options,
 * 404 for other paths), with the request guard between the library and each request, and the
 * unread rest of a request body ended once the response is out.
 */
export function rpcHandler(options: RpcHandlerOptions) {
  const { readMaxBytes } = options;
  const guard = createRequestGuard({ readMaxBytes, compressions: acceptCompression });
  const router = createConnectRouter({
    interceptors: options.interceptors,
    readMaxBytes,
    acceptCompression: [...acceptCompression],
    requestGate: guard.requestGate,
  });
  options.routes(router);
  const handlers = new Map<string, UniversalHandler>(router.handlers.map((handler) => [handler.requestPath, guard.handler(handler)]));

  return (req: Request, res: Response) => {
    const handler = handlers.get(req.url?.split('?', 2)[0] ?? '');
    if (!handler) {
      res.statusCode = 404;
      res.end();
      return;
    }
    let request;
    try {
      request = { ...universalRequestFromNodeRequest(req, res, undefined, undefined), body: requestBody(req) };
    } catch (error) {
      // No authority: an HTTP/1.0 request without a Host header. Thrown synchronously from a
      // request listener, this used to be an uncaught exception that stopped the process.
      res.statusCode = 400;
      res.setHeader('content-type', 'text/plain');
      res.end(`${ConnectError.from(error).rawMessage}\n`);
      return;
    }
    // As much again as a message may be, for a second: enough for a client that overshot the
    // limit to finish sending; past that the stream is reset or the connection closed.
    endUnreadBody(req, res, { maxBytes: readMaxBytes, maxMs: 1_000 });
    handler(request)
      .then((response) => universalResponseToNodeResponse(withSpecGrpcMessage(withUnsupportedMediaType(response, request.header.get('content-type'))), res))
      .catch((reason: unknown) => {
        if (ConnectError.from(reason).code === Code.Aborted) return;
        options.logger.error('rpc handler failed', { procedure: `${handler.service.typeName}/${handler.method.name}`, error: reason });
        // A response that failed half-way (its headers sent, its status not) would leave the
        // client waiting for ever: cut it off, so the client sees the failure.
        if (!res.writableEnded) res.destroy(reason instanceof Error ? reason : new Error(String(reason)));
      });
  };
}
