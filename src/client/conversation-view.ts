import { clone, create, type JsonObject } from '@bufbuild/protobuf';
import type { Timestamp } from '@bufbuild/protobuf/wkt';
import type { Conversation, Message } from '../../gen/parley/v1/conversation_pb.ts';
import {
  GetConversationResponseSchema,
  type GetConversationResponse,
} from '../../gen/parley/v1/conversation_service_pb.ts';
import type { ToolKind } from '../../gen/parley/v1/event_pb.ts';

/** What applying one SubscribeResponse did. */
export type ApplyOutcome = 'applied' | 'duplicate' | 'gap' | 'heartbeat';

export type ToolCallStatus = 'requested' | 'running' | 'awaiting_client' | 'finished';

/** A tool call as the stream's tool_call_* events describe it. */
export interface ToolCallView {
  readonly toolUseId: string;
  /** The assistant message holding the tool_use block. */
  readonly messageId: string;
  readonly name: string;
  readonly input: JsonObject | undefined;
  /** UNSPECIFIED when the call is only known from a snapshot's blocks. */
  readonly kind: ToolKind;
  readonly status: ToolCallStatus;
  readonly content?: string;
  readonly isError?: boolean;
  readonly durationMs?: number;
  readonly deadline?: Timestamp;
}

/**
 * The client's state of one conversation at `seq`: an immutable value. Applying an event returns a
 * new view that shares every untouched message, so consumers can compare by reference.
 */
export interface ConversationView {
  readonly seq: bigint;
  readonly conversation: Conversation | undefined;
  /** In order of creation, with their blocks. Never mutated once handed out. */
  readonly messages: readonly Message[];
  /** By tool_use_id. */
  readonly toolCalls: ReadonlyMap<string, ToolCallView>;
  /**
   * The partial JSON streamed so far for tool_use blocks still being written, by tool_use_id.
   * Only for blocks whose block_started this view saw: after a snapshot taken mid-block the
   * head of the JSON is missing, and a tail is of no use to anyone.
   */
  readonly partialToolInput: ReadonlyMap<string, string>;
}

/**
 * The view in the shape GetConversation returns, so the two can be compared with `equals`. A deep
 * copy: the caller may do what it likes with it.
 */
export function toGetConversationResponse(view: ConversationView | undefined): GetConversationResponse {
  return clone(
    GetConversationResponseSchema,
    create(GetConversationResponseSchema, {
      conversation: view?.conversation,
      messages: view ? [...view.messages] : [],
    }),
  );
}
