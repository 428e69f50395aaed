import { Code, ConnectError, type Interceptor } from '@connectrpc/connect';
import { codeToString } from '@connectrpc/connect/protocol-connect';
import { toConnectError } from './errors.ts';

/** How an RPC ended, as the caller saw it. */
export interface RpcEnd {
  service: string;
  method: string;
  /** The code as the Connect protocol names it ("ok", "not_found", "canceled", …). */
  code: string;
  /** What it failed with; undefined when it succeeded or the caller went away. */
  error?: unknown;
  seconds: number;
  stream: boolean;
}

/** An RPC as it starts. */
export interface RpcCall {
  service: string;
  method: string;
  stream: boolean;
  header: Headers;
  /** The request's content type, which names its protocol. */
  contentType: string;
}

/** What one interceptor does with one RPC. */
export interface RpcWatch {
  /** Runs the rest of the call (the inner interceptors and the handler), as for a trace context. */
  run?: <T>(work: () => Promise<T>) => Promise<T>;
  /** A streaming RPC began to respond; the function returned is called when it ends. */
  onStream?: () => () => void;
  onEnd: (end: RpcEnd) => void;
}

/**
 * An interceptor that hears, once, how each RPC ended: a unary call when it returns or throws, a
 * server stream when its last response is out, it fails, or the caller goes away (or its deadline
 * passes), which ends it without an error on this side. The log line and the metrics of an RPC
 * are both made from this, so they cannot disagree on its code.
 */
export function rpcEndInterceptor(watch: (call: RpcCall) => RpcWatch): Interceptor {
  return (next) => async (request) => {
    const service = request.service.typeName;
    const method = request.method.name;
    const hooks = watch({ service, method, stream: request.stream, header: request.header, contentType: request.header.get('content-type') ?? '' });
    const startedAt = performance.now();
    const end = (code: string, error?: unknown) =>
      hooks.onEnd({ service, method, code, ...(error === undefined ? {} : { error }), seconds: (performance.now() - startedAt) / 1000, stream: request.stream });
    let response;
    try {
      response = await (hooks.run ? hooks.run(() => next(request)) : next(request));
    } catch (error) {
      end(codeOf(error), error);
      throw error;
    }
    if (!response.stream) {
      end('ok');
      return response;
    }
    const closed = hooks.onStream?.();
    const messages = response.message;
    async function* observed() {
      let ended = false;
      try {
        yield* messages;
        ended = true;
        end(request.signal.aborted ? abortCode(request.signal) : 'ok');
      } catch (error) {
        ended = true;
        end(codeOf(error), error);
        throw error;
      } finally {
        // Stopped from outside while it was still sending.
        if (!ended) end(abortCode(request.signal));
        closed?.();
      }
    }
    return { ...response, message: observed() };
  };
}

/** The engine's errors by their code; anything else is what the errors interceptor makes of it. */
function codeOf(error: unknown): string {
  const mapped = toConnectError(error);
  return codeToString(mapped instanceof ConnectError ? mapped.code : Code.Internal);
}

function abortCode(signal: AbortSignal): string {
  return codeToString(signal.reason instanceof ConnectError ? signal.reason.code : Code.Canceled);
}
