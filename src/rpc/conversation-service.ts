import { Code, ConnectError, type HandlerContext, type ServiceImpl } from '@connectrpc/connect';
import type { ConversationService } from '../../gen/parley/v1/conversation_service_pb.ts';
import { isUuid } from '../store/ids.ts';
import type { ConversationStore } from '../store/conversation-store.ts';
import type { PromptStore, TransitionResult } from '../store/prompt-store.ts';
import type { EventHub } from '../engine/event-hub.ts';
import { subscribe } from './subscribe.ts';
import { eventResponses } from './event-convert.ts';
import { conversationToProto, messageToProto } from './convert.ts';
import { ownerOf } from './owner.ts';
import { decodePageToken, encodePageToken } from './page-token.ts';
import {
  pageSize,
  requireId,
  requireMessageText,
  requireRequestId,
  requireTitle,
  requireToolResult,
  requireToolUseId,
  settingsFromProto,
  type SettingsContext,
} from './validate.ts';

export interface ConversationServiceDeps {
  conversations: ConversationStore;
  prompts: PromptStore;
  settings: SettingsContext;
  /** Queued plus running user messages a conversation may hold. */
  maxQueuedPerConversation: number;
  /** Characters of a message's text and of a client tool's result. */
  maxMessageChars: number;
  /** Stops a prompt at once when it runs on this instance (others hear a notification). */
  cancelLocal: (messageId: string) => void;
  hub: EventHub;
  heartbeatMs: number;
}

function notFound(id: string): ConnectError {
  return new ConnectError(`conversation ${id} not found`, Code.NotFound);
}

/**
 * A caller that has gone (its deadline passed, or it disconnected) already has its answer: a
 * write it can no longer hear about is not started.
 */
function beforeWrite(context: HandlerContext): void {
  if (context.signal.aborted) throw ConnectError.from(context.signal.reason);
}

function transitioned(result: TransitionResult, messageId: string, verb: string) {
  if (result.kind === 'not_found') throw new ConnectError(`user message ${messageId} not found in this conversation`, Code.NotFound);
  if (result.kind === 'wrong_status') {
    throw new ConnectError(`message ${messageId} is ${result.status} and cannot be ${verb}`, Code.FailedPrecondition);
  }
  return result.message;
}

export function conversationService(deps: ConversationServiceDeps): ServiceImpl<typeof ConversationService> {
  const { conversations } = deps;
  const eventResponse = eventResponses();
  return {
    async createConversation(request, context) {
      const title = requireTitle('title', request.title);
      const settings = settingsFromProto('settings', request.settings, deps.settings);
      beforeWrite(context);
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
      beforeWrite(context);
      const record = await conversations.update(ownerOf(context), id, patch);
      if (!record) throw notFound(id);
      return { conversation: conversationToProto(record) };
    },

    async deleteConversation(request, context) {
      const id = requireId('conversation_id', request.conversationId);
      beforeWrite(context);
      if (!(await conversations.delete(ownerOf(context), id))) throw notFound(id);
      return {};
    },

    async sendMessage(request, context) {
      const conversationId = requireId('conversation_id', request.conversationId);
      const text = requireMessageText('text', request.text, deps.maxMessageChars);
      const requestId = requireRequestId('request_id', request.requestId);
      beforeWrite(context);
      const result = await deps.prompts.enqueue(ownerOf(context), conversationId, {
        text,
        requestId,
        maxQueued: deps.maxQueuedPerConversation,
      });
      switch (result.kind) {
        case 'not_found':
          throw notFound(conversationId);
        case 'queue_full':
          throw new ConnectError(
            `conversation ${conversationId} already has ${result.limit} messages waiting; wait for some to be answered`,
            Code.ResourceExhausted,
          );
        case 'request_id_reused':
          throw new ConnectError(
            `request_id "${requestId}" was already used for message ${result.message.id} with different text`,
            Code.FailedPrecondition,
          );
        case 'queued':
          return { message: messageToProto(result.message) };
      }
    },
    subscribe(request, context) {
      return subscribe({ conversations, hub: deps.hub, heartbeatMs: deps.heartbeatMs, eventResponse }, request, context);
    },
    async cancelPrompt(request, context) {
      const conversationId = requireId('conversation_id', request.conversationId);
      const messageId = requireId('message_id', request.messageId);
      beforeWrite(context);
      const message = transitioned(await deps.prompts.cancel(ownerOf(context), conversationId, messageId), messageId, 'cancelled');
      deps.cancelLocal(messageId);
      return { message: messageToProto(message) };
    },
    async submitToolResult(request, context) {
      const conversationId = requireId('conversation_id', request.conversationId);
      const toolUseId = requireToolUseId('tool_use_id', request.toolUseId);
      const content = requireToolResult('content', request.content, deps.maxMessageChars);
      beforeWrite(context);
      const result = await deps.prompts.submitClientResult(ownerOf(context), conversationId, toolUseId, {
        content,
        isError: request.isError,
      });
      if (result.kind === 'not_found') {
        throw new ConnectError(`no client tool call ${toolUseId} in conversation ${conversationId}`, Code.NotFound);
      }
      if (result.kind === 'already') {
        const why = result.status === 'answered' ? 'was already answered' : 'timed out and was answered with an error';
        throw new ConnectError(`client tool call ${toolUseId} ${why}`, Code.FailedPrecondition);
      }
      return {};
    },
    async retryMessage(request, context) {
      const conversationId = requireId('conversation_id', request.conversationId);
      const messageId = requireId('message_id', request.messageId);
      beforeWrite(context);
      const message = transitioned(await deps.prompts.requeue(ownerOf(context), conversationId, messageId), messageId, 'retried');
      return { message: messageToProto(message) };
    },
  };
}
