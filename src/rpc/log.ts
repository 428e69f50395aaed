import { Code, ConnectError, type Interceptor } from '@connectrpc/connect';
import { codeToString } from '@connectrpc/connect/protocol-connect';
import type { Logger } from '../logger.ts';

/**
 * One debug line per RPC: its method, the code it ended with ("ok", "not_found", …, as the
 * Connect protocol names them) and how long it took. A server stream is logged when it ends, not
 * when its first response goes out: its code is only known then. The request id and the other
 * fields of the request's log context come with every line (logger.ts).
 */
export function logInterceptor(logger: Logger): Interceptor {
  return (next) => async (request) => {
    const startedAt = performance.now();
    const method = `${request.service.typeName}/${request.method.name}`;
    const done = (code: string, error?: unknown) =>
      logger.debug('rpc', { method, code, durationMs: Math.round(performance.now() - startedAt), ...(error === undefined ? {} : { reason: ConnectError.from(error).rawMessage }) });
    let response;
    try {
      response = await next(request);
    } catch (error) {
      done(codeOf(error), error);
      throw error;
    }
    if (!response.stream) {
      done('ok');
      return response;
    }
    return { ...response, message: loggedStream(response.message, request.signal, done) };
  };
}

async function* loggedStream<T>(messages: AsyncIterable<T>, signal: AbortSignal, done: (code: string, error?: unknown) => void): AsyncIterable<T> {
  let ended = false;
  try {
    yield* messages;
    ended = true;
    // A stream that ends because the caller went away (or its deadline passed) ends quietly.
    done(signal.aborted ? abortCode(signal) : 'ok');
  } catch (error) {
    ended = true;
    done(codeOf(error), error);
    throw error;
  } finally {
    // Stopped while it was still sending, from outside.
    if (!ended) done(abortCode(signal));
  }
}

function codeOf(error: unknown): string {
  return codeToString(ConnectError.from(error).code);
}

function abortCode(signal: AbortSignal): string {
  return codeToString(signal.reason instanceof ConnectError ? signal.reason.code : Code.Canceled);
}
