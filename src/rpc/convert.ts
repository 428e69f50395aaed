// Domain records ⇄ protobuf messages. Pure mapping, no validation (see validate.ts).
import { contextPolicyToProto } from './context-settings.ts';
import { thinkingToProto } from './thinking-settings.ts';
import { create, type JsonObject } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import {
  type Block,
  BlockSchema,
  type Conversation,
  ConversationSchema,
  type ConversationSettings as ProtoSettings,
  ConversationSettingsSchema,
  type Message,
  MessageSchema,
  MessageStatus,
  Role,
} from '../../gen/parley/v1/conversation_pb.ts';
import type {
  BlockContent,
  ConversationRecord,
  ConversationSettings,
  MessageError,
  MessageRecord,
  MessageStatus as DomainStatus,
} from '../domain/records.ts';

const STATUS: Record<DomainStatus, MessageStatus> = {
  queued: MessageStatus.QUEUED,
  processing: MessageStatus.PROCESSING,
  completed: MessageStatus.COMPLETED,
  failed: MessageStatus.FAILED,
  cancelled: MessageStatus.CANCELLED,
};

export function conversationToProto(record: ConversationRecord): Conversation {
  return create(ConversationSchema, {
    id: record.id,
    title: record.title,
    settings: settingsToProto(record.settings),
    createTime: timestampFromDate(record.createdAt),
    updateTime: timestampFromDate(record.updatedAt),
  });
}

function settingsToProto(settings: ConversationSettings): ProtoSettings {
  return create(ConversationSettingsSchema, {
    model: settings.model,
    systemPrompt: settings.systemPrompt,
    maxTokens: settings.maxTokens,
    thinkingBudgetTokens: settings.thinkingBudgetTokens,
    enabledTools: settings.enabledTools,
    clientTools: settings.clientTools.map((tool) => ({
      name: tool.name,
      description: tool.description,
      inputSchema: tool.inputSchema as JsonObject,
    })),
    contextManagement: contextPolicyToProto(settings.context),
    // Unset unless chosen: a conversation on the budget form reads as it always did.
    ...(settings.thinking.mode === 'budget' && settings.thinking.effort === null && settings.thinking.display === null ? {} : { thinking: thinkingToProto(settings.thinking) }),
  });
}

export function messageToProto(record: MessageRecord, options: { withBlocks?: boolean } = {}): Message {
  return create(MessageSchema, {
    id: record.id,
    conversationId: record.conversationId,
    role: record.role === 'user' ? Role.USER : Role.ASSISTANT,
    status: STATUS[record.status],
    error: record.error ? errorToProto(record.error) : undefined,
    blocks: options.withBlocks === false ? [] : record.blocks.map(blockToProto),
    usage: record.usage
      ? {
          inputTokens: BigInt(record.usage.inputTokens),
          outputTokens: BigInt(record.usage.outputTokens),
          cacheCreationInputTokens: BigInt(record.usage.cacheCreationInputTokens),
          cacheReadInputTokens: BigInt(record.usage.cacheReadInputTokens),
        }
      : undefined,
    replyToId: record.replyToId ?? '',
    stopReason: record.stopReason ?? '',
    model: record.model ?? '',
    queuePosition: record.queuePosition,
    requestId: record.requestId ?? '',
    createTime: timestampFromDate(record.createdAt),
    updateTime: timestampFromDate(record.updatedAt),
    startTime: record.startedAt ? timestampFromDate(record.startedAt) : undefined,
    endTime: record.endedAt ? timestampFromDate(record.endedAt) : undefined,
  });
}

export function blockToProto(block: BlockContent): Block {
  switch (block.type) {
    case 'text':
      return create(BlockSchema, { content: { case: 'text', value: { text: block.text } } });
    case 'thinking':
      return create(BlockSchema, {
        content: { case: 'thinking', value: { thinking: block.thinking, signature: block.signature } },
      });
    case 'redacted_thinking':
      return create(BlockSchema, { content: { case: 'redactedThinking', value: { data: block.data } } });
    case 'tool_use':
      return create(BlockSchema, {
        content: { case: 'toolUse', value: { id: block.id, name: block.name, input: block.input as JsonObject } },
      });
    case 'tool_result':
      return create(BlockSchema, {
        content: {
          case: 'toolResult',
          value: { toolUseId: block.toolUseId, content: block.content, isError: block.isError },
        },
      });
  }
}

export function errorToProto(error: MessageError) {
  return {
    code: error.code,
    message: error.message,
    ...(error.refusal ? { refusal: { category: error.refusal.category ?? '', explanation: error.refusal.explanation ?? '' } } : {}),
  };
}
