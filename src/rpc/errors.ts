import { create } from '@bufbuild/protobuf';
import { Code, ConnectError, type Interceptor } from '@connectrpc/connect';
import { RetryInfoSchema } from '../../gen/google/rpc/error_details_pb.ts';
import { RequestError, type RequestErrorCode } from '../domain/request-errors.ts';
import type { Logger } from '../logger.ts';

const CODES: Record<RequestErrorCode, Code> = {
  unauthenticated: Code.Unauthenticated,
  permission_denied: Code.PermissionDenied,
  not_found: Code.NotFound,
  failed_precondition: Code.FailedPrecondition,
  resource_exhausted: Code.ResourceExhausted,
  unavailable: Code.Unavailable,
};

/**
 * The engine's RequestError as the ConnectError of its code, with a google.rpc.RetryInfo detail
 * when it says when to try again (the convention gRPC clients and gateways read); anything else
 * as it is.
 */
export function toConnectError(error: unknown): unknown {
  if (!(error instanceof RequestError)) return error;
  const details = error.retryAfterMs === null ? [] : [{ desc: RetryInfoSchema, value: create(RetryInfoSchema, { retryDelay: duration(error.retryAfterMs) }) }];
  return new ConnectError(error.message, CODES[error.code], undefined, details);
}

function duration(ms: number): { seconds: bigint; nanos: number } {
  const whole = Math.max(0, Math.ceil(ms));
  return { seconds: BigInt(Math.floor(whole / 1000)), nanos: (whole % 1000) * 1_000_000 };
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
        if (!error.rawMessage.isWellFormed()) {
          // Details made here are outgoing ones (with their schema); received ones are not passed on.
          const outgoing = error.details.filter((detail) => 'desc' in detail);
          throw new ConnectError(error.rawMessage.toWellFormed(), error.code, error.metadata, outgoing);
        }
        throw error;
      }
      logger.error('request failed', { procedure: request.method.name, error });
      throw new ConnectError('internal error', Code.Internal);
    }
  };
}
