import type { Interceptor } from '@connectrpc/connect';
import type { Metrics } from '../observability/metrics.ts';
import { rpcEndInterceptor } from './rpc-end.ts';

/**
 * Counts every RPC by service, method and status code, times unary ones, and keeps the number
 * of open streams; a stream is counted when it ends, with the code it ended with. Placed inside
 * the errors interceptor, it sees the code the caller gets for the engine's errors; anything
 * else the errors interceptor turns into `internal`, and so is counted here.
 */
export function metricsInterceptor(metrics: Metrics): Interceptor {
  return rpcEndInterceptor(({ service, method }) => ({
    onStream: () => metrics.streamOpened(service, method),
    onEnd: ({ code, seconds, stream }) => metrics.rpcEnded(service, method, code, stream ? null : seconds),
  }));
}
