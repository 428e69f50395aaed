import { Code, ConnectError, type Interceptor } from '@connectrpc/connect';
import type { Logger } from '../logger.ts';

/**
 * Errors that are not ConnectErrors are bugs or infrastructure failures: log them whole, and
 * tell the caller only that something went wrong on our side (no SQL or stack leaks out).
 */
export function errorsInterceptor(logger: Logger): Interceptor {
  return (next) => async (request) => {
    try {
      return await next(request);
    } catch (error) {
      if (error instanceof ConnectError) throw error;
      logger.error('request failed', { procedure: request.method.name, error });
      throw new ConnectError('internal error', Code.Internal);
    }
  };
}
