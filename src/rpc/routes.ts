import type { ConnectRouter } from '@connectrpc/connect';
import { Health } from '../../gen/grpc/health/v1/health_pb.ts';
import { ConversationService } from '../../gen/parley/v1/conversation_service_pb.ts';
import type { HealthMonitor } from '../engine/health-monitor.ts';
import { conversationService, type ConversationServiceDeps } from './conversation-service.ts';
import { healthService } from './health-service.ts';
import { reflectionIndex } from './reflection.ts';
import { reflectionServiceV1, reflectionServiceV1alpha, ServerReflectionV1, ServerReflectionV1alpha } from './reflection-service.ts';

export interface RoutesDeps extends ConversationServiceDeps {
  health: HealthMonitor;
}

/** Every service this port serves: reflection describes exactly these. */
const SERVED = [ConversationService, Health, ServerReflectionV1, ServerReflectionV1alpha];

/** Every RPC route of the service, registered in one place. */
export function routes(deps: RoutesDeps) {
  const index = reflectionIndex(SERVED);
  return (router: ConnectRouter) => {
    router.service(ConversationService, conversationService(deps));
    router.service(Health, healthService(deps.health));
    router.service(ServerReflectionV1, reflectionServiceV1(index));
    router.service(ServerReflectionV1alpha, reflectionServiceV1alpha(index));
  };
}
