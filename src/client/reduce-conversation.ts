import type { SubscribeResponse } from '../../gen/parley/v1/conversation_service_pb.ts';
import type { BlockDelta, BlockStarted, BlockStopped, Snapshot } from '../../gen/parley/v1/event_pb.ts';
import { appendDelta } from './block-delta.ts';
import type { ApplyOutcome, ConversationView } from './conversation-view.ts';
import { blockAt, indexOfMessage, insertById, replaceAt, withBlock } from './message-list.ts';
import { StreamProtocolError } from './protocol-error.ts';
import { applyToolCallEvent, applyToolResult, toolCallsFromMessages } from './tool-calls.ts';

export interface Reduction {
  readonly outcome: ApplyOutcome;
  /** The same object as the input unless the outcome is `applied`. */
  readonly view: ConversationView | undefined;
}

type Event = SubscribeResponse['event'];
type NumberedEvent = Exclude<Event, { case: 'snapshot' } | { case: 'heartbeat' }>;

/**
 * Applies one response of the Subscribe stream to a view (undefined before the first snapshot).
 * Pure: never mutates the view, the response, or anything either holds.
 * @throws StreamProtocolError when the event contradicts the view; the view is then unusable for
 *   resuming and the caller should start over from a fresh snapshot.
 */
export function reduceConversation(view: ConversationView | undefined, response: SubscribeResponse): Reduction {
  const { seq, event } = response;
  switch (event.case) {
    case 'snapshot':
      // Whatever the seq: a reset may even move it backwards. Replace, never merge.
      return { outcome: 'applied', view: fromSnapshot(seq, event.value) };
    case 'heartbeat':
      // A heartbeat names the last event sent on this stream: one ahead of us was lost.
      return { outcome: view !== undefined && seq > view.seq ? 'gap' : 'heartbeat', view };
    default:
      if (view === undefined || seq > view.seq + 1n) return { outcome: 'gap', view };
      if (seq <= view.seq) return { outcome: 'duplicate', view };
      return { outcome: 'applied', view: applyEvent({ ...view, seq }, event) };
  }
}

function fromSnapshot(seq: bigint, snapshot: Snapshot): ConversationView {
  const messages = [...snapshot.messages];
  return {
    seq,
    conversation: snapshot.conversation,
    messages,
    toolCalls: toolCallsFromMessages(messages, snapshot.awaitingClient),
    partialToolInput: new Map(),
  };
}

/** `view` already carries the event's seq. */
function applyEvent(view: ConversationView, event: NumberedEvent): ConversationView {
  const fail = (detail: string): never => {
    throw new StreamProtocolError(view.seq, detail);
  };
  switch (event.case) {
    case 'messageQueued': {
      const message = event.value.message ?? fail('message_queued without a message');
      const at = indexOfMessage(view.messages, message.id);
      // A message queued again (RetryMessage) keeps its place instead of appearing twice.
      const messages = at < 0 ? insertById(view.messages, message) : replaceAt(view.messages, at, message);
      return { ...view, messages };
    }
    case 'messageStatusChanged': {
      const changed = event.value.message ?? fail('message_status_changed without a message');
      const at = indexOfMessage(view.messages, changed.id);
      const stored = view.messages[at];
      const messages = stored
        ? replaceAt(view.messages, at, { ...changed, blocks: stored.blocks })
        : insertById(view.messages, { ...changed, blocks: [] });
      return { ...view, messages };
    }
    case 'blockStarted':
      return startBlock(view, event.value, fail);
    case 'blockDelta':
      return appendToBlock(view, event.value, fail);
    case 'blockStopped':
      return stopBlock(view, event.value, fail);
    case 'toolCallRequested':
    case 'toolCallStarted':
    case 'toolCallAwaitingClient':
    case 'toolCallFinished':
      return { ...view, toolCalls: applyToolCallEvent(view.toolCalls, view.messages, event) };
    case 'conversationUpdated':
      return { ...view, conversation: event.value.conversation ?? fail('conversation_updated without a conversation') };
    case 'promptFinished':
    case 'promptFailed':
      // Informational: the statuses they imply arrive as message_status_changed.
      return view;
    case 'contextCompacted':
      // Informational: stored messages do not change, only what the model is sent.
      return view;
    case undefined:
      // An event type newer than this client: it still took a seq, so take it too.
      return view;
  }
}

type Fail = (detail: string) => never;

function startBlock(view: ConversationView, started: BlockStarted, fail: Fail): ConversationView {
  const block = started.block ?? fail('block_started without a block');
  const messages = orFail(withBlock(view.messages, started.messageId, started.index, block), fail);
  if (block.content.case === 'toolResult') {
    const toolCalls = applyToolResult(view.toolCalls, messages, started.messageId, block.content.value);
    return { ...view, messages, toolCalls };
  }
  if (block.content.case !== 'toolUse') return { ...view, messages };
  const partialToolInput = new Map(view.partialToolInput);
  partialToolInput.set(block.content.value.id, '');
  return { ...view, messages, partialToolInput };
}

function appendToBlock(view: ConversationView, delta: BlockDelta, fail: Fail): ConversationView {
  const { messageId, index } = delta;
  const block = blockAt(view.messages, messageId, index) ?? fail(`delta for missing block ${index} of ${messageId}`);
  const change = delta.delta;
  switch (change.case) {
    case 'partialJson': {
      if (block.content.case !== 'toolUse') {
        return fail(`partial_json delta on a ${block.content.case ?? 'empty'} block`);
      }
      const id = block.content.value.id;
      const sofar = view.partialToolInput.get(id);
      if (sofar === undefined) return view;
      const partialToolInput = new Map(view.partialToolInput);
      partialToolInput.set(id, sofar + change.value);
      return { ...view, partialToolInput };
    }
    case undefined:
      // A delta kind newer than this client; its content arrives whole with block_stopped.
      return view;
    default: {
      const grown = orFail(appendDelta(block, change), fail);
      return { ...view, messages: orFail(withBlock(view.messages, messageId, index, grown), fail) };
    }
  }
}

function stopBlock(view: ConversationView, stopped: BlockStopped, fail: Fail): ConversationView {
  const block = stopped.block ?? fail('block_stopped without a block');
  const messages = orFail(withBlock(view.messages, stopped.messageId, stopped.index, block), fail);
  if (block.content.case === 'toolResult') {
    const toolCalls = applyToolResult(view.toolCalls, messages, stopped.messageId, block.content.value);
    return { ...view, messages, toolCalls };
  }
  if (block.content.case !== 'toolUse' || !view.partialToolInput.has(block.content.value.id)) {
    return { ...view, messages };
  }
  const partialToolInput = new Map(view.partialToolInput);
  partialToolInput.delete(block.content.value.id);
  return { ...view, messages, partialToolInput };
}

function orFail<T extends object>(result: T | string, fail: Fail): T {
  return typeof result === 'string' ? fail(result) : result;
}
