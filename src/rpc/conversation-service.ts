import { Code, ConnectError, type ServiceImpl } from '@connectrpc/connect';
import type { ConversationService } from '../../gen/parley/v1/conversation_service_pb.ts';
import { isUuid } from '../store/ids.ts';
import type { ConversationStore } from '../store/conversation-store.ts';
import { conversationToProto, messageToProto } from './convert.ts';
import { ownerOf } from './owner.ts';
import { decodePageToken, encodePageToken } from './page-token.ts';
import { pageSize, requireId, requireTitle, settingsFromProto, type SettingsContext } from './validate.ts';

export interface ConversationServiceDeps {
  conversations: ConversationStore;
  settings: SettingsContext;
}

function notFound(id: string): ConnectError {
  return new ConnectError(`conversation ${id} not found`, Code.NotFound);
}

function unimplemented(rpc: string): ConnectError {
  return new ConnectError(`${rpc} is not implemented yet`, Code.Unimplemented);
}

export function conversationService(deps: ConversationServiceDeps): ServiceImpl<typeof ConversationService> {
  const { conversations } = deps;
  return {
    async createConversation(request, context) {
      const title = requireTitle('title', request.title);
      const settings = settingsFromProto('settings', request.settings, deps.settings);
      const record = await conversations.create(ownerOf(context), { title, settings });
      return { conversation: conversationToProto(record) };
    },

    async getConversation(request, context) {
      const id = requireId('conversation_id', request.conversationId);
      const owner = ownerOf(context);
      const record = await conversations.get(owner, id);
      const messages = record && (await conversations.messages(owner, id));
      if (!record || !messages) throw notFound(id);
      return { conversation: conversationToProto(record), messages: messages.map((m) => messageToProto(m)) };
    },

    async listConversations(request, context) {
      const limit = pageSize(request.pageSize);
      const afterId = decodePageToken(request.pageToken, isUuid);
      const page = await conversations.list(ownerOf(context), limit, afterId);
      return {
        conversations: page.conversations.map(conversationToProto),
        nextPageToken: page.nextAfterId ? encodePageToken(page.nextAfterId) : '',
      };
    },

    async updateConversation(request, context) {
      const id = requireId('conversation_id', request.conversationId);
      const patch = {
        title: request.title === undefined ? undefined : requireTitle('title', request.title),
        settings: request.settings ? settingsFromProto('settings', request.settings, deps.settings) : undefined,
      };
      const record = await conversations.update(ownerOf(context), id, patch);
      if (!record) throw notFound(id);
      return { conversation: conversationToProto(record) };
    },

    async deleteConversation(request, context) {
      const id = requireId('conversation_id', request.conversationId);
      if (!(await conversations.delete(ownerOf(context), id))) throw notFound(id);
      return {};
    },

    sendMessage() {
      throw unimplemented('SendMessage');
    },
    // eslint-disable-next-line require-yield -- answers unimplemented before the first message
    async *subscribe() {
      throw unimplemented('Subscribe');
    },
    cancelPrompt() {
      throw unimplemented('CancelPrompt');
    },
    submitToolResult() {
      throw unimplemented('SubmitToolResult');
    },
    retryMessage() {
      throw unimplemented('RetryMessage');
    },
  };
}
