// What a log line is about (the request it serves, the prompt it runs) travels with the work
// itself, so that a line logged anywhere below an RPC handler or a prompt carries it without
// every function in between taking it as a parameter. The logger reads it on every line
// (pino's mixin, in logger.ts).
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';

export interface LogContext {
  /** The request's `x-request-id`, given by the caller or made here. */
  requestId?: string;
  /** Set by a tracer, through withTraceId. */
  traceId?: string;
  conversationId?: string;
  /** For a prompt: the user message it answers. */
  messageId?: string;
}

const context = new AsyncLocalStorage<LogContext>();

/** The fields of the work running now; empty for work that belongs to no request or prompt. */
export function logContext(): LogContext {
  return context.getStore() ?? {};
}

/** Runs `work` with `fields` added to (and overriding) the current context. */
export function withLogContext<T>(fields: LogContext, work: () => T): T {
  return context.run({ ...context.getStore(), ...fields }, work);
}

/**
 * Runs `work` in a context of `fields` only. For work that outlives what started it: a prompt
 * launched after another prompt ended must not carry the ended one's ids.
 */
export function inNewLogContext<T>(fields: LogContext, work: () => T): T {
  return context.run({ ...fields }, work);
}

/**
 * Adds a trace id to every line `work` logs. The hook for a tracer: it calls this where a span
 * starts, and the lines join the trace without the logger knowing of the tracer.
 */
export function withTraceId<T>(traceId: string, work: () => T): T {
  return withLogContext({ traceId }, work);
}

/** Longest `x-request-id` kept from a caller; a longer one is replaced. */
export const MAX_REQUEST_ID_LENGTH = 128;

/**
 * The caller's request id when it is one we can put in a log line and a response header as it
 * is (printable ASCII, 1 to 128 characters), else a new one. A value with control characters or
 * of unbounded length would let a caller forge log lines or bloat every line of the request.
 */
export function requestIdFrom(given: string | string[] | undefined): string {
  const value = Array.isArray(given) ? given[0] : given;
  if (value !== undefined && value.length > 0 && value.length <= MAX_REQUEST_ID_LENGTH && /^[\x20-\x7e]+$/.test(value)) return value;
  return randomUUID();
}
