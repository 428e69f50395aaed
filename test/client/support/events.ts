// Hand-built SubscribeResponses and messages, so tests read like the stream they describe.
import { create, type JsonObject } from '@bufbuild/protobuf';
import {
  BlockSchema,
  ConversationSchema,
  MessageSchema,
  MessageStatus,
  Role,
  type Block,
  type Conversation,
  type Message,
} from '../../../gen/parley/v1/conversation_pb.ts';
import { SubscribeResponseSchema, type SubscribeResponse } from '../../../gen/parley/v1/conversation_service_pb.ts';
import {
  BlockDeltaSchema,
  BlockStartedSchema,
  BlockStoppedSchema,
  ConversationUpdatedSchema,
  HeartbeatSchema,
  MessageQueuedSchema,
  MessageStatusChangedSchema,
  PromptFinishedSchema,
  SnapshotSchema,
  ToolCallFinishedSchema,
  ToolCallRequestedSchema,
  ToolCallStartedSchema,
  ToolKind,
  type BlockDelta,
} from '../../../gen/parley/v1/event_pb.ts';

export const CONVERSATION_ID = '0190a000-0000-7000-8000-000000000001';

export function conversation(title = 'A chat'): Conversation {
  return create(ConversationSchema, { id: CONVERSATION_ID, title });
}

export const textBlock = (text: string): Block => create(BlockSchema, { content: { case: 'text', value: { text } } });

export const thinkingBlock = (thinking: string, signature: string): Block =>
  create(BlockSchema, { content: { case: 'thinking', value: { thinking, signature } } });

export const toolUseBlock = (id: string, name: string, input?: JsonObject): Block =>
  create(BlockSchema, { content: { case: 'toolUse', value: { id, name, input } } });

export const toolResultBlock = (toolUseId: string, content: string, isError = false): Block =>
  create(BlockSchema, { content: { case: 'toolResult', value: { toolUseId, content, isError } } });

export function userMessage(id: string, text: string, status: MessageStatus = MessageStatus.QUEUED): Message {
  return create(MessageSchema, {
    id,
    conversationId: CONVERSATION_ID,
    role: Role.USER,
    status,
    blocks: [textBlock(text)],
  });
}

export function assistantMessage(
  id: string,
  replyToId: string,
  status: MessageStatus = MessageStatus.PROCESSING,
  blocks: Block[] = [],
): Message {
  return create(MessageSchema, {
    id,
    conversationId: CONVERSATION_ID,
    role: Role.ASSISTANT,
    status,
    replyToId,
    model: 'claude-test',
    blocks,
  });
}

const response = (seq: number | bigint, event: SubscribeResponse['event']): SubscribeResponse =>
  create(SubscribeResponseSchema, { seq: BigInt(seq), event });

export const snapshot = (
  seq: number | bigint,
  messages: Message[],
  options: { reset?: boolean; conversation?: Conversation } = {},
): SubscribeResponse =>
  response(seq, {
    case: 'snapshot',
    value: create(SnapshotSchema, {
      conversation: options.conversation ?? conversation(),
      messages,
      reset: options.reset ?? false,
    }),
  });

export const queued = (seq: number, message: Message): SubscribeResponse =>
  response(seq, { case: 'messageQueued', value: create(MessageQueuedSchema, { message }) });

export const statusChanged = (seq: number, message: Message): SubscribeResponse =>
  response(seq, {
    case: 'messageStatusChanged',
    value: create(MessageStatusChangedSchema, { message: { ...message, blocks: [] } }),
  });

export const blockStarted = (seq: number, messageId: string, index: number, block: Block): SubscribeResponse =>
  response(seq, { case: 'blockStarted', value: create(BlockStartedSchema, { messageId, index, block }) });

export const blockDelta = (
  seq: number,
  messageId: string,
  index: number,
  delta: BlockDelta['delta'],
): SubscribeResponse =>
  response(seq, { case: 'blockDelta', value: create(BlockDeltaSchema, { messageId, index, delta }) });

export const textDelta = (seq: number, messageId: string, index: number, text: string): SubscribeResponse =>
  blockDelta(seq, messageId, index, { case: 'text', value: text });

export const blockStopped = (seq: number, messageId: string, index: number, block: Block): SubscribeResponse =>
  response(seq, { case: 'blockStopped', value: create(BlockStoppedSchema, { messageId, index, block }) });

export const heartbeat = (seq: number | bigint): SubscribeResponse =>
  response(seq, { case: 'heartbeat', value: create(HeartbeatSchema, {}) });

export const conversationUpdated = (seq: number, value: Conversation): SubscribeResponse =>
  response(seq, { case: 'conversationUpdated', value: create(ConversationUpdatedSchema, { conversation: value }) });

export const toolRequested = (
  seq: number,
  messageId: string,
  toolUseId: string,
  name: string,
  input: JsonObject,
  kind: ToolKind = ToolKind.SERVER,
): SubscribeResponse =>
  response(seq, {
    case: 'toolCallRequested',
    value: create(ToolCallRequestedSchema, { messageId, toolUseId, name, input, kind }),
  });

export const toolStarted = (seq: number, messageId: string, toolUseId: string): SubscribeResponse =>
  response(seq, { case: 'toolCallStarted', value: create(ToolCallStartedSchema, { messageId, toolUseId }) });

export const toolFinished = (
  seq: number,
  messageId: string,
  toolUseId: string,
  content: string,
  durationMs = 12,
): SubscribeResponse =>
  response(seq, {
    case: 'toolCallFinished',
    value: create(ToolCallFinishedSchema, { messageId, toolUseId, content, durationMs: BigInt(durationMs) }),
  });

export const promptFinished = (seq: number, messageId: string, replyId: string): SubscribeResponse =>
  response(seq, {
    case: 'promptFinished',
    value: create(PromptFinishedSchema, { messageId, replyId, stopReason: 'end_turn' }),
  });

/** An event of a type this client does not know (a newer server): only its seq is visible. */
export const unknownEvent = (seq: number): SubscribeResponse => response(seq, { case: undefined });
