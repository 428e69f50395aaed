import { ConnectError, type Interceptor } from '@connectrpc/connect';
import type { Logger } from '../logger.ts';
import { rpcEndInterceptor } from './rpc-end.ts';

/**
 * One debug line per RPC: its method, the code it ended with ("ok", "not_found", …, as the
 * Connect protocol names them) and how long it took. A server stream is logged when it ends, not
 * when its first response goes out: its code is only known then. The request id and the other
 * fields of the request's log context come with every line (logger.ts).
 */
export function logInterceptor(logger: Logger): Interceptor {
  return rpcEndInterceptor(() => ({
    onEnd: ({ service, method, code, error, seconds }) =>
      logger.debug('rpc', {
        method: `${service}/${method}`,
        code,
        durationMs: Math.round(seconds * 1000),
        ...(error === undefined ? {} : { reason: ConnectError.from(error).rawMessage }),
      }),
  }));
}
