import type { ConnectRouter } from '@connectrpc/connect';
import { ConversationService } from '../../gen/parley/v1/conversation_service_pb.ts';
import { conversationService, type ConversationServiceDeps } from './conversation-service.ts';

/** Every RPC route of the service, registered in one place. */
export function routes(deps: ConversationServiceDeps) {
  return (router: ConnectRouter) => {
    router.service(ConversationService, conversationService(deps));
  };
}
