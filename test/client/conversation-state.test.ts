import { create, equals } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { MessageSchema, MessageStatus, UsageSchema, type Message } from '../../gen/parley/v1/conversation_pb.ts';
import { GetConversationResponseSchema } from '../../gen/parley/v1/conversation_service_pb.ts';
import { ToolKind } from '../../gen/parley/v1/event_pb.ts';
import { ConversationState, StreamProtocolError } from '../../src/client/index.ts';
import {
  assistantMessage,
  blockDelta,
  blockStarted,
  blockStopped,
  conversation,
  conversationUpdated,
  heartbeat,
  promptFinished,
  queued,
  snapshot,
  statusChanged,
  textBlock,
  textDelta,
  thinkingBlock,
  toolFinished,
  toolRequested,
  toolResultBlock,
  toolStarted,
  toolUseBlock,
  unknownEvent,
  userMessage,
} from './support/events.ts';
import { deepFreeze } from './support/timeline.ts';

const USER = 'm1-user'; // ids sort in creation order, as the server's time-ordered ids do
const REPLY = 'm2-reply';

/** A state holding a processing user message and its empty assistant reply, at seq 2. */
function started(): ConversationState {
  const state = new ConversationState();
  expect(state.apply(snapshot(0, []))).toBe('applied');
  expect(state.apply(queued(1, userMessage(USER, 'Hi')))).toBe('applied');
  expect(state.apply(statusChanged(2, assistantMessage(REPLY, USER)))).toBe('applied');
  return state;
}

const blocksOf = (state: ConversationState, id = REPLY) => state.messages.find((m) => m.id === id)?.blocks;

describe('ConversationState', () => {
  it('holds nothing before the first snapshot and treats events then as a gap', () => {
    const state = new ConversationState();
    expect(state.seq).toBeUndefined();
    expect(state.messages).toEqual([]);
    expect(state.apply(queued(1, userMessage(USER, 'Hi')))).toBe('gap');
    expect(state.apply(heartbeat(0))).toBe('heartbeat');
    expect(state.seq).toBeUndefined();
  });

  it('builds a text block from many deltas that equals the final block', () => {
    const state = started();
    const pieces = ['Hel', 'lo', ', ', 'wor', 'ld', '!'];
    let seq = 2;
    state.apply(blockStarted(++seq, REPLY, 0, textBlock('')));
    for (const piece of pieces) expect(state.apply(textDelta(++seq, REPLY, 0, piece))).toBe('applied');
    expect(blocksOf(state)).toEqual([textBlock('Hello, world!')]);
    state.apply(blockStopped(++seq, REPLY, 0, textBlock('Hello, world!')));
    expect(blocksOf(state)).toEqual([textBlock('Hello, world!')]);
    expect(state.seq).toBe(BigInt(seq));
  });

  it('streams thinking and its signature into one thinking block', () => {
    const state = started();
    state.apply(blockStarted(3, REPLY, 0, thinkingBlock('', '')));
    state.apply(blockDelta(4, REPLY, 0, { case: 'thinking', value: 'Let me ' }));
    state.apply(blockDelta(5, REPLY, 0, { case: 'thinking', value: 'think.' }));
    state.apply(blockDelta(6, REPLY, 0, { case: 'signature', value: 'EqQB' }));
    state.apply(blockDelta(7, REPLY, 0, { case: 'signature', value: 'sig==' }));
    expect(blocksOf(state)).toEqual([thinkingBlock('Let me think.', 'EqQBsig==')]);
  });

  it('keeps partial tool JSON beside the block until block_stopped brings the parsed input', () => {
    const state = started();
    state.apply(blockStarted(3, REPLY, 0, toolUseBlock('toolu_1', 'weather')));
    state.apply(blockDelta(4, REPLY, 0, { case: 'partialJson', value: '{"city":' }));
    state.apply(blockDelta(5, REPLY, 0, { case: 'partialJson', value: '"Oslo"}' }));
    expect(state.view?.partialToolInput.get('toolu_1')).toBe('{"city":"Oslo"}');
    expect(blocksOf(state)).toEqual([toolUseBlock('toolu_1', 'weather')]);
    state.apply(blockStopped(6, REPLY, 0, toolUseBlock('toolu_1', 'weather', { city: 'Oslo' })));
    expect(blocksOf(state)).toEqual([toolUseBlock('toolu_1', 'weather', { city: 'Oslo' })]);
    expect(state.view?.partialToolInput.has('toolu_1')).toBe(false);
  });

  it('tracks a tool call from request to result outside the messages', () => {
    const state = started();
    state.apply(blockStopped(3, REPLY, 0, toolUseBlock('toolu_1', 'weather', { city: 'Oslo' })));
    state.apply(toolRequested(4, REPLY, 'toolu_1', 'weather', { city: 'Oslo' }));
    expect(state.toolCalls.get('toolu_1')).toMatchObject({ status: 'requested', kind: ToolKind.SERVER, name: 'weather' });
    state.apply(toolStarted(5, REPLY, 'toolu_1'));
    expect(state.toolCalls.get('toolu_1')?.status).toBe('running');
    state.apply(toolFinished(6, REPLY, 'toolu_1', 'Sunny', 40));
    expect(state.toolCalls.get('toolu_1')).toEqual({
      toolUseId: 'toolu_1',
      messageId: REPLY,
      name: 'weather',
      input: { city: 'Oslo' },
      kind: ToolKind.SERVER,
      status: 'finished',
      content: 'Sunny',
      isError: false,
      durationMs: 40,
    });
    expect(blocksOf(state)).toHaveLength(1);
  });

  it('rebuilds tool calls from the blocks of a snapshot, which carries no tool call state', () => {
    const state = new ConversationState();
    const reply = assistantMessage(REPLY, USER, MessageStatus.PROCESSING, [
      toolUseBlock('toolu_done', 'a', {}),
      toolUseBlock('toolu_open', 'b', { x: 1 }),
      toolResultBlock('toolu_done', 'ok'),
    ]);
    state.apply(snapshot(9, [userMessage(USER, 'Hi', MessageStatus.PROCESSING), reply]));
    expect(state.toolCalls.get('toolu_done')).toMatchObject({ status: 'finished', content: 'ok', isError: false });
    expect(state.toolCalls.get('toolu_open')).toMatchObject({ status: 'requested', name: 'b', kind: ToolKind.UNSPECIFIED });
    state.apply(toolStarted(10, REPLY, 'toolu_open'));
    expect(state.toolCalls.get('toolu_open')).toMatchObject({ status: 'running', name: 'b', input: { x: 1 } });
  });

  it('settles a tool call from its stored tool_result block when the snapshot came after tool_call_finished', () => {
    const state = new ConversationState();
    const reply = assistantMessage(REPLY, USER, MessageStatus.PROCESSING, [toolUseBlock('toolu_1', 'weather', {})]);
    state.apply(snapshot(7, [userMessage(USER, 'Hi', MessageStatus.PROCESSING), reply]));
    expect(state.toolCalls.get('toolu_1')?.status).toBe('requested');
    state.apply(blockStopped(8, REPLY, 1, toolResultBlock('toolu_1', 'Sunny', true)));
    expect(state.toolCalls.get('toolu_1')).toMatchObject({ status: 'finished', content: 'Sunny', isError: true, name: 'weather' });
  });

  it('ignores a duplicate event and never doubles a delta (the classic resume bug)', () => {
    const state = started();
    state.apply(blockStarted(3, REPLY, 0, textBlock('')));
    state.apply(textDelta(4, REPLY, 0, 'Hello'));
    const before = state.view;
    expect(state.apply(textDelta(4, REPLY, 0, 'Hello'))).toBe('duplicate');
    expect(state.apply(textDelta(3, REPLY, 0, 'Hello'))).toBe('duplicate');
    expect(state.apply(queued(1, userMessage(USER, 'Hi')))).toBe('duplicate');
    expect(state.view).toBe(before);
    expect(blocksOf(state)).toEqual([textBlock('Hello')]);
  });

  it('detects a gap and applies nothing', () => {
    const state = started();
    const before = state.view;
    expect(state.apply(textDelta(4, REPLY, 0, 'skipped seq 3'))).toBe('gap');
    expect(state.view).toBe(before);
    expect(state.seq).toBe(2n);
  });

  it('takes a heartbeat as a heartbeat, or as a gap when it names a seq we never got', () => {
    const state = started();
    const before = state.view;
    expect(state.apply(heartbeat(2))).toBe('heartbeat');
    expect(state.apply(heartbeat(1))).toBe('heartbeat');
    expect(state.apply(heartbeat(3))).toBe('gap');
    expect(state.view).toBe(before);
  });

  it('replaces everything on a second snapshot, so a resume that falls back to one never doubles content', () => {
    const state = started();
    state.apply(blockStarted(3, REPLY, 0, textBlock('')));
    state.apply(textDelta(4, REPLY, 0, 'Hello'));
    state.apply(toolRequested(5, REPLY, 'toolu_gone', 'x', {}));
    const replayed = assistantMessage(REPLY, USER, MessageStatus.PROCESSING, [textBlock('Hello, again')]);
    const user = userMessage(USER, 'Hi', MessageStatus.PROCESSING);
    expect(state.apply(snapshot(8, [user, replayed], { reset: true }))).toBe('applied');
    expect(state.messages).toEqual([user, replayed]);
    expect(state.toolCalls.size).toBe(0);
    expect(state.seq).toBe(8n);
    expect(state.apply(textDelta(9, REPLY, 0, '!'))).toBe('applied');
    expect(blocksOf(state)).toEqual([textBlock('Hello, again!')]);
  });

  it('accepts a reset snapshot whose seq is below the one held', () => {
    const state = started();
    expect(state.apply(snapshot(1, [userMessage(USER, 'Hi')], { reset: true }))).toBe('applied');
    expect(state.seq).toBe(1n);
    expect(state.messages).toHaveLength(1);
  });

  it('keeps the blocks when a message changes status, and takes every other field', () => {
    const state = started();
    state.apply(blockStopped(3, REPLY, 0, textBlock('Done.')));
    const completed = create(MessageSchema, {
      ...assistantMessage(REPLY, USER, MessageStatus.COMPLETED),
      stopReason: 'end_turn',
      usage: create(UsageSchema, { inputTokens: 3n, outputTokens: 2n }),
    });
    state.apply(statusChanged(4, completed));
    const reply = state.messages[1];
    expect(reply?.status).toBe(MessageStatus.COMPLETED);
    expect(reply?.stopReason).toBe('end_turn');
    expect(reply?.usage?.outputTokens).toBe(2n);
    expect(reply?.blocks).toEqual([textBlock('Done.')]);
  });

  it('appends an assistant message it did not know, with no blocks', () => {
    const state = new ConversationState();
    state.apply(snapshot(0, [userMessage(USER, 'Hi')]));
    state.apply(statusChanged(1, assistantMessage(REPLY, USER, MessageStatus.PROCESSING, [textBlock('ignored')])));
    expect(state.messages.map((m) => m.id)).toEqual([USER, REPLY]);
    expect(state.messages[1]?.blocks).toEqual([]);
  });

  it('keeps one copy of a message queued again', () => {
    const state = started();
    state.apply(queued(3, userMessage(USER, 'Hi')));
    expect(state.messages.map((m) => m.id)).toEqual([USER, REPLY]);
  });

  it('never changes arrays or messages it handed out', () => {
    const state = started();
    state.apply(blockStarted(3, REPLY, 0, textBlock('')));
    state.apply(textDelta(4, REPLY, 0, 'a'));
    const messages = state.messages;
    const user = messages[0];
    const reply = messages[1] as Message;
    const replyBlocks = reply.blocks;
    const frozen = structuredClone(reply);
    const calls = state.toolCalls;

    state.apply(textDelta(5, REPLY, 0, 'b'));
    state.apply(toolRequested(6, REPLY, 'toolu_1', 't', {}));

    expect(state.messages).not.toBe(messages);
    expect(messages).toHaveLength(2);
    expect(reply.blocks).toBe(replyBlocks);
    expect(reply).toEqual(frozen);
    expect(state.messages[0]).toBe(user);
    expect(state.messages[1]).not.toBe(reply);
    expect(state.toolCalls).not.toBe(calls);
    expect(calls.size).toBe(0);
  });

  it('never mutates the responses it is given', () => {
    const state = new ConversationState();
    const responses = [
      snapshot(0, [userMessage(USER, 'Hi'), assistantMessage(REPLY, USER)]),
      blockStarted(1, REPLY, 0, textBlock('')),
      textDelta(2, REPLY, 0, 'x'),
      statusChanged(3, assistantMessage(REPLY, USER, MessageStatus.COMPLETED)),
    ].map(deepFreeze);
    for (const response of responses) expect(state.apply(response)).toBe('applied');
    expect(blocksOf(state)).toEqual([textBlock('x')]);
  });

  it('replaces the conversation, passes informational events and takes unknown ones by seq', () => {
    const state = started();
    state.apply(conversationUpdated(3, conversation('Renamed')));
    expect(state.conversation?.title).toBe('Renamed');
    const before = state.messages;
    expect(state.apply(promptFinished(4, USER, REPLY))).toBe('applied');
    expect(state.apply(unknownEvent(5))).toBe('applied');
    expect(state.seq).toBe(5n);
    expect(state.messages).toBe(before);
  });

  it('refuses events that contradict the state, and stays as it was', () => {
    const state = started();
    const before = state.view;
    expect(() => state.apply(textDelta(3, 'no-such-message', 0, 'x'))).toThrow(StreamProtocolError);
    expect(() => state.apply(textDelta(3, REPLY, 0, 'no block yet'))).toThrow(StreamProtocolError);
    expect(() => state.apply(blockStarted(3, REPLY, 2, textBlock('')))).toThrow(/has 0 blocks/);
    expect(state.view).toBe(before);
    state.apply(blockStarted(3, REPLY, 0, thinkingBlock('', '')));
    expect(() => state.apply(textDelta(4, REPLY, 0, 'x'))).toThrow(/text delta on a thinking block/);
    expect(state.seq).toBe(3n);
  });

  it('exports what GetConversation returns, as a copy', () => {
    const state = started();
    const exported = state.toGetConversationResponse();
    const expected = create(GetConversationResponseSchema, {
      conversation: conversation(),
      messages: [userMessage(USER, 'Hi'), assistantMessage(REPLY, USER)],
    });
    expect(equals(GetConversationResponseSchema, exported, expected)).toBe(true);
    exported.messages[0]?.blocks.push(textBlock('mutated'));
    expect(state.messages[0]?.blocks).toHaveLength(1);
  });
});
