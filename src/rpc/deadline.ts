import { Code, ConnectError, type Interceptor } from '@connectrpc/connect';
import { RequestError } from '../domain/request-errors.ts';
import { withinRequest } from '../domain/request-scope.ts';
import type { Logger } from '../logger.ts';

export interface DeadlineOptions {
  /** The longest a unary RPC may run (PARLEY_REQUEST_TIMEOUT_MS). */
  maxMs: number;
  logger: Logger;
}

/**
 * Ends a unary RPC with `deadline_exceeded` once it has run for `maxMs`, or sooner when the
 * caller's own deadline (grpc-timeout, connect-timeout-ms) comes first. Subscribe streams are
 * long-lived by design, so only the caller's deadline bounds them.
 *
 * connect-es does not do this by itself: it aborts the handler's signal at the caller's
 * deadline but still waits for the handler, and its `maxTimeoutMs` rejects a longer caller
 * deadline with `invalid_argument` instead of capping it, and sets none when the caller sends
 * none. So this interceptor adds the server's cap to the signal the handler sees and answers as
 * soon as that signal aborts.
 *
 * The handler runs within the request's scope (domain/request-scope.ts): once the signal aborts,
 * the database seam cancels the statement still running for it, so a write that had not reached
 * its commit is rolled back instead of landing later. A commit already on its way may still
 * land: `deadline_exceeded` means "may or may not have happened", as in gRPC; SendMessage with
 * the same request_id is the safe retry.
 */
export function deadlineInterceptor(options: DeadlineOptions): Interceptor {
  return (next) => async (request) => {
    if (request.stream) return next(request);
    const cap = new AbortController();
    const timer = setTimeout(
      () => cap.abort(new ConnectError(`the request ran longer than the server's limit of ${options.maxMs} ms`, Code.DeadlineExceeded)),
      options.maxMs,
    );
    const signal = AbortSignal.any([request.signal, cap.signal]);
    const work = withinRequest(signal, () => next({ ...request, signal }));
    try {
      return await untilAborted(work, signal);
    } finally {
      clearTimeout(timer);
      if (signal.aborted) {
        work.catch((error: unknown) => {
          // The caller already has its answer; a failure it never saw still needs a trace.
          if (!(error instanceof ConnectError) && !(error instanceof RequestError)) {
            options.logger.warn('request failed after its deadline', { procedure: request.method.name, error });
          }
        });
      }
    }
  };
}

/** Settles with `work`, or rejects with the signal's reason as a ConnectError as soon as it aborts. */
async function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  const { promise: aborted, reject } = Promise.withResolvers<never>();
  const onAbort = () => reject(ConnectError.from(signal.reason));
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });
  try {
    return await Promise.race([work, aborted]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}
