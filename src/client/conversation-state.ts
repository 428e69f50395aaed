import type { Conversation, Message } from '../../gen/parley/v1/conversation_pb.ts';
import type {
  GetConversationResponse,
  SubscribeResponse,
} from '../../gen/parley/v1/conversation_service_pb.ts';
import {
  toGetConversationResponse,
  type ApplyOutcome,
  type ConversationView,
  type ToolCallView,
} from './conversation-view.ts';
import { reduceConversation } from './reduce-conversation.ts';

const NO_MESSAGES: readonly Message[] = Object.freeze([]);
const NO_TOOL_CALLS: ReadonlyMap<string, ToolCallView> = new Map();

/**
 * Holds the current view of one conversation and applies Subscribe responses to it. Each applied
 * event replaces `view` with a new value; values handed out earlier never change.
 */
export class ConversationState {
  #view: ConversationView | undefined;

  /** `initial`: a view kept from an earlier subscription, to resume from its seq. */
  constructor(initial?: ConversationView) {
    this.#view = initial;
  }

  /**
   * @returns `gap` when events are missing before this one (nothing applied: resubscribe with
   *   after_seq = seq), `duplicate` when already applied, `heartbeat` for a heartbeat.
   * @throws StreamProtocolError when the event contradicts the state (state unchanged).
   */
  apply(response: SubscribeResponse): ApplyOutcome {
    const { outcome, view } = reduceConversation(this.#view, response);
    this.#view = view;
    return outcome;
  }

  /** Undefined until the first snapshot. */
  get view(): ConversationView | undefined {
    return this.#view;
  }

  /** The seq of the last event applied; undefined until the first snapshot. */
  get seq(): bigint | undefined {
    return this.#view?.seq;
  }

  get conversation(): Conversation | undefined {
    return this.#view?.conversation;
  }

  get messages(): readonly Message[] {
    return this.#view?.messages ?? NO_MESSAGES;
  }

  get toolCalls(): ReadonlyMap<string, ToolCallView> {
    return this.#view?.toolCalls ?? NO_TOOL_CALLS;
  }

  toGetConversationResponse(): GetConversationResponse {
    return toGetConversationResponse(this.#view);
  }
}
