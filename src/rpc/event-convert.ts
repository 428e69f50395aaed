// Domain events ⇄ SubscribeResponse. Pure mapping.
import { create, type JsonObject, type MessageInitShape } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { SubscribeResponseSchema, type SubscribeResponse } from '../../gen/parley/v1/conversation_service_pb.ts';
import { ToolKind } from '../../gen/parley/v1/event_pb.ts';
import type { ConversationEvent, SequencedEvent } from '../domain/events.ts';
import type { ConversationSnapshot, Usage } from '../domain/records.ts';
import { blockToProto, conversationToProto, errorToProto, messageToProto } from './convert.ts';

type Event = MessageInitShape<typeof SubscribeResponseSchema>['event'];

export function snapshotResponse(snapshot: ConversationSnapshot, reset: boolean): SubscribeResponse {
  return create(SubscribeResponseSchema, {
    seq: BigInt(snapshot.seq),
    event: {
      case: 'snapshot',
      value: {
        conversation: conversationToProto(snapshot.conversation),
        messages: snapshot.messages.map((m) => messageToProto(m)),
        reset,
        awaitingClient: snapshot.awaitingClient.map((call) => ({
          messageId: call.messageId,
          toolUseId: call.toolUseId,
          name: call.name,
          input: call.input as JsonObject,
          deadline: timestampFromDate(call.deadline),
        })),
      },
    },
  });
}

export function heartbeatResponse(seq: number, now: Date = new Date()): SubscribeResponse {
  return create(SubscribeResponseSchema, { seq: BigInt(seq), event: { case: 'heartbeat', value: { time: timestampFromDate(now) } } });
}

/**
 * Converts events to responses, once per event however many subscribers it goes to: the hub
 * hands every subscriber the same event object. One per service, made with it.
 */
export function eventResponses(): (sequenced: SequencedEvent) => SubscribeResponse {
  const made = new WeakMap<SequencedEvent, SubscribeResponse>();
  return (sequenced) => {
    let response = made.get(sequenced);
    if (!response) {
      response = create(SubscribeResponseSchema, { seq: BigInt(sequenced.seq), event: eventToProto(sequenced.event) });
      made.set(sequenced, response);
    }
    return response;
  };
}

const TOOL_KIND = { server: ToolKind.SERVER, client: ToolKind.CLIENT, mcp: ToolKind.MCP } as const;

function eventToProto(event: ConversationEvent): NonNullable<Event> {
  switch (event.type) {
    case 'message_queued':
      return { case: 'messageQueued', value: { message: messageToProto(event.message) } };
    case 'message_status_changed':
      return { case: 'messageStatusChanged', value: { message: messageToProto(event.message, { withBlocks: false }) } };
    case 'block_started':
      return { case: 'blockStarted', value: { messageId: event.messageId, index: event.index, block: blockToProto(event.block) } };
    case 'block_stopped':
      return { case: 'blockStopped', value: { messageId: event.messageId, index: event.index, block: blockToProto(event.block) } };
    case 'block_delta': {
      const kind = { text: 'text', thinking: 'thinking', signature: 'signature', partial_json: 'partialJson' } as const;
      return {
        case: 'blockDelta',
        value: { messageId: event.messageId, index: event.index, delta: { case: kind[event.delta.kind], value: event.delta.value } },
      };
    }
    case 'tool_call_requested':
      return {
        case: 'toolCallRequested',
        value: { messageId: event.messageId, toolUseId: event.toolUseId, name: event.name, input: event.input as JsonObject, kind: TOOL_KIND[event.kind] },
      };
    case 'tool_call_awaiting_client':
      return {
        case: 'toolCallAwaitingClient',
        value: {
          messageId: event.messageId,
          toolUseId: event.toolUseId,
          name: event.name,
          input: event.input as JsonObject,
          deadline: timestampFromDate(new Date(event.deadline)),
          traceparent: event.traceparent ?? '',
        },
      };
    case 'tool_call_started':
      return { case: 'toolCallStarted', value: { messageId: event.messageId, toolUseId: event.toolUseId } };
    case 'tool_call_finished':
      return {
        case: 'toolCallFinished',
        value: {
          messageId: event.messageId,
          toolUseId: event.toolUseId,
          content: event.content,
          isError: event.isError,
          durationMs: BigInt(event.durationMs),
        },
      };
    case 'prompt_finished':
      return {
        case: 'promptFinished',
        value: { messageId: event.messageId, replyId: event.replyId, stopReason: event.stopReason ?? '', usage: usageToProto(event.usage) },
      };
    case 'prompt_failed':
      return { case: 'promptFailed', value: { messageId: event.messageId, replyId: event.replyId ?? '', error: errorToProto(event.error) } };
    case 'conversation_updated':
      return { case: 'conversationUpdated', value: { conversation: conversationToProto(event.conversation) } };
    case 'context_compacted':
      return {
        case: 'contextCompacted',
        value: {
          messageId: event.messageId,
          replyId: event.replyId,
          throughMessageId: event.throughMessageId,
          summary: event.summary,
          tokensBefore: BigInt(event.tokensBefore),
          tokensAfter: BigInt(event.tokensAfter),
          usage: usageToProto(event.usage),
        },
      };
  }
}

function usageToProto(usage: Usage | null) {
  if (!usage) return undefined;
  return {
    inputTokens: BigInt(usage.inputTokens),
    outputTokens: BigInt(usage.outputTokens),
    cacheCreationInputTokens: BigInt(usage.cacheCreationInputTokens),
    cacheReadInputTokens: BigInt(usage.cacheReadInputTokens),
  };
}
