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

export interface RpcEndHooks {
  /** A streaming RPC began to respond; the function returned is called when it ends. */
  onStream?: (service: string, method: string) => () => void;
  onEnd: (end: RpcEnd) => void;
}

/**
 * An interceptor that hears, once, how each RPC ended: a unary call when it returns or throws, a
 * server stream when its last response is out, it fails, or the caller goes away (or its deadline
 * passes), which ends it without an error on this side. The log line and the metrics of an RPC
 * are both made from this, so they cannot disagree on its code.
 */
export function rpcEndInterceptor(hooks: RpcEndHooks): Interceptor {
  return (next) => async (request) => {
    const service = request.service.typeName;
    const method = request.method.name;
    const startedAt = performance.now();
    const end = (code: string, error?: unknown) =>
      hooks.onEnd({ service, method, code, ...(error === undefined ? {} : { error }), seconds: (performance.now() - startedAt) / 1000, stream: request.stream });
    let response;
    try {
      response = await next(request);
    } catch (error) {
      end(codeOf(error), error);
      throw error;
    }
    if (!response.stream) {
      end('ok');
      return response;
    }
    const closed = hooks.onStream?.(service, method);
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
