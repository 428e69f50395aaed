// Traces leave the process through the OpenTelemetry Node SDK, configured by the standard
// OTEL_* variables (endpoint, protocol, headers, sampler, service name). Parley's own code only
// uses @opentelemetry/api: with no SDK started, every span is a no-op that costs a few calls, and
// the SDK (with its exporters, many modules) is not even loaded.
import type { Logger } from '../logger.ts';

export interface Tracing {
  /** Exports the spans still buffered, then stops. */
  shutdown(): Promise<void>;
}

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Whether the environment asks for traces to be exported: an OTLP endpoint is set, or
 * OTEL_TRACES_EXPORTER names an exporter; and the SDK is not disabled. Without either, nothing is
 * started: the SDK's default (OTLP to localhost:4318) would post spans to a collector nobody runs.
 */
export function tracingWanted(env: Env): boolean {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return false;
  const exporters = (env.OTEL_TRACES_EXPORTER ?? '').split(',').map((name) => name.trim()).filter((name) => name !== '');
  if (exporters.includes('none')) return false;
  return exporters.length > 0 || Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim()) || Boolean(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim());
}

/**
 * Starts the SDK for traces only (metrics are Prometheus's, logs are pino's), when the
 * environment asks for it; else returns null. The service is `parley` unless OTEL_SERVICE_NAME
 * says otherwise; OTEL_RESOURCE_ATTRIBUTES adds the rest.
 */
export async function startTracing(env: Env, options: { logger: Logger }): Promise<Tracing | null> {
  if (!tracingWanted(env)) return null;
  const { NodeSDK } = await import('@opentelemetry/sdk-node');
  const sdk = new NodeSDK({
    ...(env.OTEL_SERVICE_NAME ? {} : { serviceName: 'parley' }),
    metricReaders: [],
    logRecordProcessors: [],
  });
  sdk.start();
  options.logger.info('traces are exported with OpenTelemetry', {
    endpoint: env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? env.OTEL_EXPORTER_OTLP_ENDPOINT ?? null,
    exporter: env.OTEL_TRACES_EXPORTER ?? 'otlp',
  });
  return {
    shutdown: () =>
      sdk.shutdown().catch((error: unknown) => {
        options.logger.warn('exporting the last spans failed', { error });
      }),
  };
}
