import { Code, ConnectError, type Interceptor } from '@connectrpc/connect';
import { RequestError, type RequestErrorCode } from '../domain/request-errors.ts';
import type { Logger } from '../logger.ts';

const CODES: Record<RequestErrorCode, Code> = {
  unauthenticated: Code.Unauthenticated,
  not_found: Code.NotFound,
  failed_precondition: Code.FailedPrecondition,
  resource_exhausted: Code.ResourceExhausted,
  unavailable: Code.Unavailable,
};

/** The engine's RequestError as the ConnectError of its code; anything else as it is. */
export function toConnectError(error: unknown): unknown {
  return error instanceof RequestError ? new ConnectError(error.message, CODES[error.code]) : error;
}

/**
 * Errors that are neither ConnectErrors nor RequestErrors are bugs or infrastructure failures:
 * log them whole, and tell the caller only that something went wrong on our side (no SQL or
 * stack leaks out).
 */
export function errorsInterceptor(logger: Logger): Interceptor {
  return (next) => async (request) => {
    try {
      return await next(request);
    } catch (thrown) {
      const error = toConnectError(thrown);
      if (error instanceof ConnectError) {
        // gRPC trailers percent-encode the message, which fails on a lone surrogate and would
        // leave the call without a status.
        if (!error.rawMessage.isWellFormed()) throw new ConnectError(error.rawMessage.toWellFormed(), error.code);
        throw error;
      }
      logger.error('request failed', { procedure: request.method.name, error });
      throw new ConnectError('internal error', Code.Internal);
    }
  };
}
