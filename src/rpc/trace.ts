import { context, isSpanContextValid, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { ConnectError, Code, type Interceptor } from '@connectrpc/connect';
import { codeFromString } from '@connectrpc/connect/protocol-connect';
import { withTraceId } from '../log-context.ts';
import { contextFromHeaders, tracer } from '../observability/trace-context.ts';
import { rpcEndInterceptor } from './rpc-end.ts';

/**
 * Codes that mean the server failed, for a server span (the semantic conventions' rule for
 * gRPC): a caller's mistake (invalid_argument, not_found, …) leaves the span unset.
 */
const SERVER_FAULTS: ReadonlySet<number> = new Set([Code.Unknown, Code.DeadlineExceeded, Code.Unimplemented, Code.Internal, Code.Unavailable, Code.DataLoss]);

/**
 * A server span per RPC (`parley.v1.ConversationService/SendMessage`), a child of the trace the
 * caller's `traceparent` names, or a new trace. The handler runs inside it, so what the handler
 * starts (a queued message remembers it: the prompt that answers it links back) and logs (the
 * trace id on every line) belongs to it. A server stream's span lasts until the stream ends.
 */
export function traceInterceptor(): Interceptor {
  return rpcEndInterceptor(({ service, method, header, contentType }) => {
    const system = contentType.startsWith('application/grpc') ? 'grpc' : 'connect_rpc';
    const parent = contextFromHeaders(header);
    const span = tracer.startSpan(
      `${service}/${method}`,
      { kind: SpanKind.SERVER, attributes: { 'rpc.system': system, 'rpc.service': service, 'rpc.method': method } },
      parent,
    );
    const active = trace.setSpan(parent, span);
    const traceId = span.spanContext().traceId;
    return {
      run: (work) => (isSpanContextValid(span.spanContext()) ? withTraceId(traceId, () => context.with(active, work)) : context.with(active, work)),
      onEnd: ({ code, error }) => {
        const numeric: number = code === 'ok' ? 0 : (codeFromString(code) ?? Code.Unknown);
        if (system === 'grpc') span.setAttribute('rpc.grpc.status_code', numeric);
        else if (code !== 'ok') span.setAttribute('rpc.connect_rpc.error_code', code);
        if (SERVER_FAULTS.has(numeric)) {
          span.setStatus({ code: SpanStatusCode.ERROR, message: error === undefined ? code : ConnectError.from(error).rawMessage });
          span.setAttribute('error.type', code);
        }
        span.end();
      },
    };
  });
}
