import { ConnectError, type HandlerContext, type ServiceImpl } from '@connectrpc/connect';
import { SendMode, type ConversationService } from '../../gen/parley/v1/conversation_service_pb.ts';
import { isUuid } from '../domain/ids.ts';
import type { ConversationEngine } from '../engine/conversation-engine.ts';
import { conversationToProto, messageToProto } from './convert.ts';
import { eventResponses } from './event-convert.ts';
import { ownerOf } from './owner.ts';
import type { PageTokens } from './page-token.ts';
import { subscribe } from './subscribe.ts';
import { usageQuery, usageResponse } from './usage.ts';
import {
  invalid,
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
  engine: ConversationEngine;
  settings: SettingsContext;
  /** Characters of a message's text and of a client tool's result. */
  maxMessageChars: number;
  heartbeatMs: number;
  pageTokens: PageTokens;
}

/**
 * A caller that has gone (its deadline passed, or it disconnected) already has its answer: a
 * write it can no longer hear about is not started.
 */
function beforeWrite(context: HandlerContext): void {
  if (context.signal.aborted) throw ConnectError.from(context.signal.reason);
}

/** Each handler validates and maps its request, calls the engine, and maps the answer back. */
export function conversationService(deps: ConversationServiceDeps): ServiceImpl<typeof ConversationService> {
  const { engine } = deps;
  const eventResponse = eventResponses();
  return {
    async createConversation(request, context) {
      const title = requireTitle('title', request.title);
      const settings = settingsFromProto('settings', request.settings, deps.settings);
      beforeWrite(context);
      return { conversation: conversationToProto(await engine.createConversation(ownerOf(context), { title, settings })) };
    },

    async getConversation(request, context) {
      const id = requireId('conversation_id', request.conversationId);
      const { conversation, messages } = await engine.getConversation(ownerOf(context), id);
      return { conversation: conversationToProto(conversation), messages: messages.map((m) => messageToProto(m)) };
    },

    async listConversations(request, context) {
      const limit = pageSize(request.pageSize);
      const owner = ownerOf(context);
      const afterId = deps.pageTokens.decode(owner, request.pageToken, isUuid);
      const page = await engine.listConversations(owner, limit, afterId);
      return {
        conversations: page.conversations.map(conversationToProto),
        nextPageToken: page.nextAfterId ? deps.pageTokens.encode(owner, page.nextAfterId) : '',
      };
    },

    async updateConversation(request, context) {
      const id = requireId('conversation_id', request.conversationId);
      const patch = {
        title: request.title === undefined ? undefined : requireTitle('title', request.title),
        settings: request.settings ? settingsFromProto('settings', request.settings, deps.settings) : undefined,
      };
      beforeWrite(context);
      return { conversation: conversationToProto(await engine.updateConversation(ownerOf(context), id, patch)) };
    },

    async deleteConversation(request, context) {
      const id = requireId('conversation_id', request.conversationId);
      beforeWrite(context);
      await engine.deleteConversation(ownerOf(context), id);
      return {};
    },

    async sendMessage(request, context) {
      const conversationId = requireId('conversation_id', request.conversationId);
      const text = requireMessageText('text', request.text, deps.maxMessageChars);
      const requestId = requireRequestId('request_id', request.requestId);
      const rejectIfBusy = sendModeOf(request.mode) === 'reject_if_busy';
      beforeWrite(context);
      return { message: messageToProto(await engine.sendMessage(ownerOf(context), conversationId, { text, requestId, rejectIfBusy })) };
    },

    subscribe(request, context) {
      return subscribe({ engine, heartbeatMs: deps.heartbeatMs, eventResponse }, request, context);
    },

    async cancelPrompt(request, context) {
      const conversationId = requireId('conversation_id', request.conversationId);
      const messageId = requireId('message_id', request.messageId);
      beforeWrite(context);
      return { message: messageToProto(await engine.cancelPrompt(ownerOf(context), conversationId, messageId)) };
    },

    async submitToolResult(request, context) {
      const conversationId = requireId('conversation_id', request.conversationId);
      const toolUseId = requireToolUseId('tool_use_id', request.toolUseId);
      const content = requireToolResult('content', request.content, deps.maxMessageChars);
      beforeWrite(context);
      await engine.submitToolResult(ownerOf(context), conversationId, toolUseId, { content, isError: request.isError });
      return {};
    },

    async getUsage(request, context) {
      const { from, to, grouping } = usageQuery(request);
      return usageResponse(await engine.getUsage(ownerOf(context), from, to, grouping));
    },

    async retryMessage(request, context) {
      const conversationId = requireId('conversation_id', request.conversationId);
      const messageId = requireId('message_id', request.messageId);
      beforeWrite(context);
      return { message: messageToProto(await engine.retryMessage(ownerOf(context), conversationId, messageId)) };
    },

    async forkConversation(request, context) {
      const conversationId = requireId('conversation_id', request.conversationId);
      const messageId = requireId('message_id', request.messageId);
      const text = request.text === undefined ? null : requireMessageText('text', request.text, deps.maxMessageChars);
      const title = request.title === undefined ? null : requireTitle('title', request.title);
      beforeWrite(context);
      const forked = await engine.forkConversation(ownerOf(context), conversationId, { messageId, text, title });
      return { conversation: conversationToProto(forked.conversation), ...(forked.queued ? { message: messageToProto(forked.queued) } : {}) };
    },
  };
}

function sendModeOf(mode: SendMode): 'queue' | 'reject_if_busy' {
  switch (mode) {
    case SendMode.UNSPECIFIED:
    case SendMode.QUEUE:
      return 'queue';
    case SendMode.REJECT_IF_BUSY:
      return 'reject_if_busy';
    default:
      throw invalid('mode', `${String(mode)} is not a send mode`);
  }
}
