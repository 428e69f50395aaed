// W3C trace context as text: how a span's context is kept on a stored message (a prompt runs
// later, maybe on another instance) and handed to a client in an event.
import { context, isSpanContextValid, propagation, ROOT_CONTEXT, trace, type Context, type Link } from '@opentelemetry/api';

/** The tracer of all of Parley's spans; a no-op until an SDK registers a provider. */
export const tracer = trace.getTracer('parley');

const carrierSetter = {
  set(carrier: Record<string, string>, key: string, value: string) {
    carrier[key] = value;
  },
};

/** The `traceparent` of the span active in `at` (default: now), or null when none is recording. */
export function traceparentOf(at: Context = context.active()): string | null {
  const span = trace.getSpan(at);
  if (!span || !isSpanContextValid(span.spanContext())) return null;
  const carrier: Record<string, string> = {};
  propagation.inject(at, carrier, carrierSetter);
  return carrier.traceparent ?? null;
}

/** A link to the span a stored `traceparent` names; none when it is absent or malformed. */
export function linkTo(traceparent: string | null): Link[] {
  if (traceparent === null) return [];
  const span = trace.getSpan(propagation.extract(ROOT_CONTEXT, { traceparent }));
  return span && isSpanContextValid(span.spanContext()) ? [{ context: span.spanContext() }] : [];
}

/** The context a request's headers carry (traceparent, tracestate, baggage), on top of none. */
export function contextFromHeaders(headers: Headers): Context {
  return propagation.extract(ROOT_CONTEXT, headers, {
    keys: (carrier) => [...carrier.keys()],
    get: (carrier, key) => carrier.get(key) ?? undefined,
  });
}
