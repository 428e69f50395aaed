// A scripted server history: from the spec of a "true" conversation, the numbered events a server
// would send while writing it, and the true state after each of them. The true states come from
// the spec (text prefixes, blocks as they stand), not from replaying events, so they check the
// client's reducer instead of repeating it.
import { clone, create, type JsonObject, type MessageInitShape } from '@bufbuild/protobuf';
import { timestampFromMs, type Timestamp } from '@bufbuild/protobuf/wkt';
import {
  BlockSchema,
  ConversationSchema,
  MessageErrorSchema,
  MessageSchema,
  UsageSchema,
  MessageStatus,
  Role,
  type Block,
  type Conversation,
  type Message,
} from '../../../gen/parley/v1/conversation_pb.ts';
import {
  GetConversationResponseSchema,
  SubscribeResponseSchema,
  type GetConversationResponse,
  type SubscribeResponse,
} from '../../../gen/parley/v1/conversation_service_pb.ts';
import { SnapshotSchema, ToolKind } from '../../../gen/parley/v1/event_pb.ts';
import { CONVERSATION_ID, textBlock, thinkingBlock, toolResultBlock, toolUseBlock } from './events.ts';

export type BlockSpec =
  | { kind: 'text'; text: string; cuts: number[] }
  | { kind: 'thinking'; thinking: string; signature: string; cuts: number[]; signatureCuts: number[] }
  | { kind: 'redacted'; data: string }
  | {
      kind: 'tool';
      name: string;
      input: JsonObject;
      cuts: number[];
      client: boolean;
      result: string;
      isError: boolean;
      /** Whether the tool_result block gets a block_started before its block_stopped. */
      resultStarts: boolean;
    };

export interface TurnSpec {
  text: string;
  blocks: BlockSpec[];
  ending: 'completed' | 'failed' | 'cancelled';
  retitle: string | null;
}

export interface ConversationSpec {
  title: string;
  turns: TurnSpec[];
}

export interface Timeline {
  /** events[i] carries seq i + 1. */
  readonly events: readonly SubscribeResponse[];
  /** states[k]: the truth after k events; states[0] is the empty conversation. */
  readonly states: readonly GetConversationResponse[];
}

/** The snapshot a server would send at seq k. */
export function snapshotAt(timeline: Timeline, k: number, reset = false): SubscribeResponse {
  const state = timeline.states[k];
  if (!state) throw new Error(`no state at ${k}`);
  return deepFreeze(
    create(SubscribeResponseSchema, {
      seq: BigInt(k),
      event: {
        case: 'snapshot',
        value: create(SnapshotSchema, {
          conversation: clone(ConversationSchema, state.conversation ?? create(ConversationSchema)),
          messages: state.messages.map((message) => clone(MessageSchema, message)),
          reset,
        }),
      },
    }),
  );
}

export const finalState = (timeline: Timeline): GetConversationResponse => {
  const state = timeline.states[timeline.events.length];
  if (!state) throw new Error('empty timeline');
  return state;
};

export function buildTimeline(spec: ConversationSpec): Timeline {
  const builder = new Builder(spec.title);
  spec.turns.forEach((turn, t) => builder.turn(turn, t));
  return { events: builder.events, states: builder.states };
}

/** Every object reachable, frozen: a reducer that mutates its input then throws. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const key of Reflect.ownKeys(value)) deepFreeze((value as Record<PropertyKey, unknown>)[key]);
  }
  return value;
}

/**
 * `text` cut at the given positions (mod its length), without empty pieces. Never between the two
 * halves of a surrogate pair: a protobuf string must be valid UTF-8, so no delta can hold half a
 * code point.
 */
export function split(text: string, cuts: number[]): string[] {
  const points = [...new Set(cuts.map((cut) => onCodePoint(text, cut % (text.length + 1))))].sort((a, b) => a - b);
  const pieces: string[] = [];
  let from = 0;
  for (const point of [...points, text.length]) {
    if (point > from) pieces.push(text.slice(from, point));
    from = Math.max(from, point);
  }
  return pieces;
}

function onCodePoint(text: string, point: number): number {
  const before = text.charCodeAt(point - 1);
  return before >= 0xd800 && before <= 0xdbff ? point + 1 : point;
}

class Builder {
  readonly events: SubscribeResponse[] = [];
  readonly states: GetConversationResponse[] = [];
  #conversation: Conversation;
  readonly #messages: Message[] = [];

  constructor(title: string) {
    this.#conversation = create(ConversationSchema, { id: CONVERSATION_ID, title, createTime: timestampFromMs(0) });
    this.states.push(this.#capture());
  }

  turn(spec: TurnSpec, t: number): void {
    const user = create(MessageSchema, {
      id: `m${String(2 * t).padStart(6, "0")}-user`,
      conversationId: CONVERSATION_ID,
      role: Role.USER,
      status: MessageStatus.QUEUED,
      blocks: [textBlock(spec.text)],
      createTime: this.#now(),
    });
    this.#messages.push(user);
    this.#emit({ case: 'messageQueued', value: { message: clone(MessageSchema, user) } });

    this.#setStatus(user, { status: MessageStatus.PROCESSING, startTime: this.#now() });

    const reply = create(MessageSchema, {
      id: `m${String(2 * t + 1).padStart(6, "0")}-reply`,
      conversationId: CONVERSATION_ID,
      role: Role.ASSISTANT,
      status: MessageStatus.PROCESSING,
      replyToId: user.id,
      model: 'claude-test',
      createTime: this.#now(),
      startTime: this.#now(),
    });
    this.#messages.push(reply);
    this.#emit({ case: 'messageStatusChanged', value: { message: withoutBlocks(reply) } });

    spec.blocks.forEach((block, b) => this.#block(reply, block, `toolu_${t}_${b}`));

    const ended = { endTime: this.#now(), updateTime: this.#now() };
    if (spec.ending === 'completed') {
      this.#setStatus(reply, {
        ...ended,
        status: MessageStatus.COMPLETED,
        stopReason: 'end_turn',
        usage: create(UsageSchema, { inputTokens: 10n, outputTokens: BigInt(reply.blocks.length) }),
      });
      this.#setStatus(user, { ...ended, status: MessageStatus.COMPLETED });
      this.#emit({
        case: 'promptFinished',
        value: { messageId: user.id, replyId: reply.id, stopReason: 'end_turn' },
      });
    } else {
      const status = spec.ending === 'failed' ? MessageStatus.FAILED : MessageStatus.CANCELLED;
      const error = create(MessageErrorSchema, {
        code: spec.ending === 'failed' ? 'model_error' : 'cancelled',
        message: 'It stopped.',
      });
      this.#setStatus(reply, { ...ended, status, error });
      this.#setStatus(user, { ...ended, status, error });
      this.#emit({ case: 'promptFailed', value: { messageId: user.id, replyId: reply.id, error } });
    }

    if (spec.retitle !== null) {
      this.#conversation = { ...this.#conversation, title: spec.retitle, updateTime: this.#now() };
      this.#emit({ case: 'conversationUpdated', value: { conversation: clone(ConversationSchema, this.#conversation) } });
    }
  }

  #block(reply: Message, spec: BlockSpec, toolUseId: string): void {
    const index = reply.blocks.length;
    const messageId = reply.id;
    switch (spec.kind) {
      case 'text': {
        this.#start(reply, textBlock(''));
        let sofar = '';
        for (const piece of split(spec.text, spec.cuts)) {
          sofar += piece;
          reply.blocks[index] = textBlock(sofar);
          this.#emit({ case: 'blockDelta', value: { messageId, index, delta: { case: 'text', value: piece } } });
        }
        this.#stop(reply, index, textBlock(spec.text));
        return;
      }
      case 'thinking': {
        this.#start(reply, thinkingBlock('', ''));
        let thinking = '';
        for (const piece of split(spec.thinking, spec.cuts)) {
          thinking += piece;
          reply.blocks[index] = thinkingBlock(thinking, '');
          this.#emit({ case: 'blockDelta', value: { messageId, index, delta: { case: 'thinking', value: piece } } });
        }
        let signature = '';
        for (const piece of split(spec.signature, spec.signatureCuts)) {
          signature += piece;
          reply.blocks[index] = thinkingBlock(spec.thinking, signature);
          this.#emit({ case: 'blockDelta', value: { messageId, index, delta: { case: 'signature', value: piece } } });
        }
        this.#stop(reply, index, thinkingBlock(spec.thinking, spec.signature));
        return;
      }
      case 'redacted': {
        const block = create(BlockSchema, { content: { case: 'redactedThinking', value: { data: spec.data } } });
        this.#start(reply, block);
        this.#stop(reply, index, block);
        return;
      }
      case 'tool': {
        this.#start(reply, toolUseBlock(toolUseId, spec.name));
        for (const piece of split(JSON.stringify(spec.input), spec.cuts)) {
          // The partial JSON is not part of the stored block: the true state does not change.
          this.#emit({ case: 'blockDelta', value: { messageId, index, delta: { case: 'partialJson', value: piece } } });
        }
        this.#stop(reply, index, toolUseBlock(toolUseId, spec.name, spec.input));
        const call = { messageId, toolUseId };
        this.#emit({
          case: 'toolCallRequested',
          value: { ...call, name: spec.name, input: spec.input, kind: spec.client ? ToolKind.CLIENT : ToolKind.SERVER },
        });
        if (spec.client) {
          this.#emit({
            case: 'toolCallAwaitingClient',
            value: { ...call, name: spec.name, input: spec.input, deadline: this.#now() },
          });
        } else {
          this.#emit({ case: 'toolCallStarted', value: call });
        }
        this.#emit({
          case: 'toolCallFinished',
          value: { ...call, content: spec.result, isError: spec.isError, durationMs: 7n },
        });
        const result = toolResultBlock(toolUseId, spec.result, spec.isError);
        if (spec.resultStarts) this.#start(reply, result);
        this.#stop(reply, index + 1, result);
        return;
      }
    }
  }

  #start(reply: Message, block: Block): void {
    const index = reply.blocks.length;
    reply.blocks.push(block);
    this.#emit({ case: 'blockStarted', value: { messageId: reply.id, index, block: clone(BlockSchema, block) } });
  }

  #stop(reply: Message, index: number, block: Block): void {
    reply.blocks[index] = block;
    this.#emit({ case: 'blockStopped', value: { messageId: reply.id, index, block: clone(BlockSchema, block) } });
  }

  #setStatus(message: Message, change: Partial<Omit<Message, '$typeName' | 'blocks'>>): void {
    Object.assign(message, change);
    this.#emit({ case: 'messageStatusChanged', value: { message: withoutBlocks(message) } });
  }

  #now(): Timestamp {
    return timestampFromMs(1_000 * (this.events.length + 1));
  }

  #emit(event: MessageInitShape<typeof SubscribeResponseSchema>['event']): void {
    const seq = BigInt(this.events.length + 1);
    this.events.push(deepFreeze(create(SubscribeResponseSchema, { seq, event })));
    this.states.push(this.#capture());
  }

  #capture(): GetConversationResponse {
    return deepFreeze(
      clone(
        GetConversationResponseSchema,
        create(GetConversationResponseSchema, { conversation: this.#conversation, messages: this.#messages }),
      ),
    );
  }
}

function withoutBlocks(message: Message): Message {
  return clone(MessageSchema, { ...message, blocks: [] });
}
