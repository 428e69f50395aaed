import { create } from '@bufbuild/protobuf';
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from '@connectrpc/connect';
import {
  type Health,
  HealthCheckResponse_ServingStatus as Status,
  HealthCheckResponseSchema,
  HealthListResponseSchema,
  type HealthCheckResponse,
} from '../../gen/grpc/health/v1/health_pb.ts';
import { ConversationService } from '../../gen/parley/v1/conversation_service_pb.ts';
import { HealthShutDown, type HealthMonitor, type ServingStatus } from '../engine/health-monitor.ts';

/** The empty name (the server as a whole) and the one service that does the work share a status. */
const SERVICES = ['', ConversationService.typeName] as const;

/**
 * grpc.health.v1.Health over the instance's one status: what Kubernetes' gRPC probes, Envoy and
 * grpc-health-probe ask. Unknown service names get NOT_FOUND from Check and SERVICE_UNKNOWN from
 * Watch (which then stays open), as the health protocol says.
 */
export function healthService(monitor: HealthMonitor): ServiceImpl<typeof Health> {
  return {
    async check(request) {
      if (!isKnown(request.service)) throw new ConnectError(`unknown service ${JSON.stringify(request.service)}`, Code.NotFound);
      return response(await monitor.status());
    },

    async *watch(request, context: HandlerContext) {
      if (!isKnown(request.service)) {
        yield create(HealthCheckResponseSchema, { status: Status.SERVICE_UNKNOWN });
        // The set of services never changes while the instance runs: nothing more to tell.
        await new Promise<void>((resolve) => context.signal.addEventListener('abort', () => resolve(), { once: true }));
        return;
      }
      try {
        for await (const status of monitor.watch(context.signal)) yield response(status);
      } catch (error) {
        // The monitor closes as the instance stops: the watcher has had NOT_SERVING, and should
        // watch another instance (any status but unimplemented tells it to call again).
        if (error instanceof HealthShutDown) throw new ConnectError('the server is shutting down', Code.Unavailable);
        throw error;
      }
    },

    async list() {
      const status = response(await monitor.status());
      return create(HealthListResponseSchema, { statuses: Object.fromEntries(SERVICES.map((name) => [name, status])) });
    },
  };
}

function isKnown(service: string): boolean {
  return (SERVICES as readonly string[]).includes(service);
}

function response(status: ServingStatus): HealthCheckResponse {
  return create(HealthCheckResponseSchema, { status: status === 'serving' ? Status.SERVING : Status.NOT_SERVING });
}
