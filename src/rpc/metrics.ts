import { Code, ConnectError, type Interceptor } from '@connectrpc/connect';
import { codeToString } from '@connectrpc/connect/protocol-connect';
import type { Metrics } from '../observability/metrics.ts';
import { toConnectError } from './errors.ts';

/**
 * Counts every RPC by service, method and status code, times unary ones, and keeps the number
 * of open streams; a stream is counted when it ends, with the code it ended with. Placed inside
 * the errors interceptor, it sees the code the caller gets for the engine's errors; anything
 * else the errors interceptor turns into `internal`, and so is counted here.
 */
export function metricsInterceptor(metrics: Metrics): Interceptor {
  return (next) => async (request) => {
    const service = request.service.typeName;
    const method = request.method.name;
    const started = performance.now();
    let response;
    try {
      response = await next(request);
    } catch (error) {
      metrics.rpcEnded(service, method, codeOf(error), request.stream ? null : seconds(started));
      throw error;
    }
    if (!response.stream) {
      metrics.rpcEnded(service, method, 'ok', seconds(started));
      return response;
    }
    const closed = metrics.streamOpened(service, method);
    const messages = response.message;
    async function* observed() {
      let code: string | null = null;
      try {
        yield* messages;
      } catch (error) {
        code = codeOf(error);
        throw error;
      } finally {
        // A stream the caller went away from (or whose deadline passed) ends without an error
        // on this side: the signal's reason says which.
        code ??= request.signal.aborted ? codeOf(ConnectError.from(request.signal.reason, Code.Canceled)) : 'ok';
        closed();
        metrics.rpcEnded(service, method, code, null);
      }
    }
    return { ...response, message: observed() };
  };
}

function codeOf(error: unknown): string {
  const mapped = toConnectError(error);
  return codeToString(mapped instanceof ConnectError ? mapped.code : Code.Internal);
}

function seconds(since: number): number {
  return (performance.now() - since) / 1000;
}
