import { Code } from '@connectrpc/connect';

/**
 * Codes after which subscribing again can succeed. Canceled is here because proxies and browsers
 * report a dropped connection that way; our own cancellation is recognised by its signal first.
 * Everything else (NotFound, InvalidArgument, PermissionDenied, Unauthenticated, Unimplemented,
 * FailedPrecondition…) would fail the same way again.
 */
const RETRYABLE: ReadonlySet<Code> = new Set([
  Code.Unavailable,
  Code.Canceled,
  Code.Internal,
  Code.ResourceExhausted,
  Code.DeadlineExceeded,
  Code.Unknown,
  Code.Aborted,
]);

export function isRetryableCode(code: Code): boolean {
  return RETRYABLE.has(code);
}

export const DEFAULT_BACKOFF_BASE_MS = 250;
const MAX_BACKOFF_MS = 30_000;

/** Delay before retry number `attempt` (from 1). */
export type Backoff = (attempt: number) => number;

/**
 * Exponential from `baseMs`, capped, with half of it random so that many clients cut off by the
 * same outage do not all come back in the same millisecond.
 */
export function exponentialBackoff(baseMs: number, random: () => number = Math.random): Backoff {
  return (attempt) => {
    const ceiling = Math.min(MAX_BACKOFF_MS, baseMs * 2 ** Math.max(0, attempt - 1));
    return ceiling / 2 + (random() * ceiling) / 2;
  };
}
