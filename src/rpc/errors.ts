import { Code, ConnectError, type Interceptor } from '@connectrpc/connect';
import type { Logger } from '../logger.ts';
import { isDatabaseUnavailable } from '../store/database-unavailable.ts';

/**
 * Errors that are not ConnectErrors are bugs or infrastructure failures: log them whole, and
 * tell the caller only that something went wrong on our side (no SQL or stack leaks out).
 */
export function errorsInterceptor(logger: Logger): Interceptor {
  return (next) => async (request) => {
    try {
      return await next(request);
    } catch (error) {
      if (error instanceof ConnectError) {
        // gRPC trailers percent-encode the message, which fails on a lone surrogate and would
        // leave the call without a status.
        if (!error.rawMessage.isWellFormed()) throw new ConnectError(error.rawMessage.toWellFormed(), error.code);
        throw error;
      }
      if (isDatabaseUnavailable(error)) {
        logger.warn('request failed: database unreachable', { procedure: request.method.name });
        throw new ConnectError('the database is unreachable; retry shortly', Code.Unavailable);
      }
      logger.error('request failed', { procedure: request.method.name, error });
      throw new ConnectError('internal error', Code.Internal);
    }
  };
}
