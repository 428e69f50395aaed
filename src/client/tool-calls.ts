import type { Message, ToolResultBlock } from '../../gen/parley/v1/conversation_pb.ts';
import {
  ToolKind,
  type ToolCallAwaitingClient,
  type ToolCallFinished,
  type ToolCallRequested,
  type ToolCallStarted,
} from '../../gen/parley/v1/event_pb.ts';
import type { ToolCallView } from './conversation-view.ts';
import { indexOfMessage } from './message-list.ts';

export type ToolCalls = ReadonlyMap<string, ToolCallView>;

export type ToolCallEvent =
  | { case: 'toolCallRequested'; value: ToolCallRequested }
  | { case: 'toolCallStarted'; value: ToolCallStarted }
  | { case: 'toolCallAwaitingClient'; value: ToolCallAwaitingClient }
  | { case: 'toolCallFinished'; value: ToolCallFinished };

/**
 * Tool calls as a snapshot tells them: from the blocks (a call is `requested` until its
 * tool_result block exists; its kind is unknown) and from the snapshot's list of client calls
 * waiting for SubmitToolResult (`awaiting_client`, with their deadline).
 */
export function toolCallsFromMessages(messages: readonly Message[], awaiting: readonly ToolCallAwaitingClient[] = []): ToolCalls {
  const calls = new Map<string, ToolCallView>();
  for (const message of messages) {
    for (const block of message.blocks) {
      const content = block.content;
      if (content.case === 'toolUse') {
        calls.set(content.value.id, {
          toolUseId: content.value.id,
          messageId: message.id,
          name: content.value.name,
          input: content.value.input,
          kind: ToolKind.UNSPECIFIED,
          status: 'requested',
        });
      } else if (content.case === 'toolResult') {
        const call = calls.get(content.value.toolUseId);
        if (call) {
          calls.set(call.toolUseId, {
            ...call,
            status: 'finished',
            content: content.value.content,
            isError: content.value.isError,
          });
        }
      }
    }
  }
  for (const waiting of awaiting) {
    const call = calls.get(waiting.toolUseId);
    calls.set(waiting.toolUseId, {
      toolUseId: waiting.toolUseId,
      messageId: waiting.messageId,
      name: waiting.name,
      input: waiting.input ?? call?.input,
      kind: ToolKind.CLIENT,
      status: 'awaiting_client',
      ...(waiting.deadline ? { deadline: waiting.deadline } : {}),
    });
  }
  return calls;
}

export function applyToolCallEvent(calls: ToolCalls, messages: readonly Message[], event: ToolCallEvent): ToolCalls {
  const { messageId, toolUseId } = event.value;
  // A call whose earlier events preceded our snapshot is rebuilt from its tool_use block.
  const known = calls.get(toolUseId) ?? fromBlock(messages, messageId, toolUseId);
  let call: ToolCallView;
  switch (event.case) {
    case 'toolCallRequested':
      call = {
        toolUseId,
        messageId,
        name: event.value.name,
        input: event.value.input,
        kind: event.value.kind,
        status: 'requested',
      };
      break;
    case 'toolCallStarted':
      call = { ...known, status: 'running' };
      break;
    case 'toolCallAwaitingClient':
      call = {
        ...known,
        name: event.value.name,
        input: event.value.input,
        kind: ToolKind.CLIENT,
        status: 'awaiting_client',
        deadline: event.value.deadline,
      };
      break;
    case 'toolCallFinished':
      call = {
        ...known,
        status: 'finished',
        content: event.value.content,
        isError: event.value.isError,
        durationMs: Number(event.value.durationMs),
      };
      break;
  }
  const next = new Map(calls);
  next.set(toolUseId, call);
  return next;
}

/**
 * A stored tool_result block settles its call. Needed beside tool_call_finished: a snapshot taken
 * after that event but before the block was stored shows the call open, and no event follows to
 * close it except the block itself.
 */
export function applyToolResult(
  calls: ToolCalls,
  messages: readonly Message[],
  messageId: string,
  result: ToolResultBlock,
): ToolCalls {
  const known = calls.get(result.toolUseId);
  if (known?.status === 'finished') return calls;
  const next = new Map(calls);
  next.set(result.toolUseId, {
    ...(known ?? fromBlock(messages, messageId, result.toolUseId)),
    status: 'finished',
    content: result.content,
    isError: result.isError,
  });
  return next;
}

function fromBlock(messages: readonly Message[], messageId: string, toolUseId: string): ToolCallView {
  const block = messages[indexOfMessage(messages, messageId)]?.blocks.find(
    (candidate) => candidate.content.case === 'toolUse' && candidate.content.value.id === toolUseId,
  );
  const toolUse = block?.content.case === 'toolUse' ? block.content.value : undefined;
  return {
    toolUseId,
    messageId,
    name: toolUse?.name ?? '',
    input: toolUse?.input,
    kind: ToolKind.UNSPECIFIED,
    status: 'requested',
  };
}
