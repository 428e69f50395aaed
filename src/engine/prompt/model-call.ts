import type Anthropic from '@anthropic-ai/sdk';
import type { Message as ApiMessage, MessageCreateParamsBase, RawMessageStreamEvent } from '@anthropic-ai/sdk/resources/messages';
import type { ConversationEvent } from '../../domain/events.ts';
import { ModelStalled } from './model-errors.ts';
import { ReplyTooLong, type ReplyWriter } from './reply-writer.ts';
import { StreamReducer, type BlockChange } from './stream-reducer.ts';

export interface ModelCall {
  anthropic: Anthropic;
  request: MessageCreateParamsBase;
  writer: ReplyWriter;
  /** A stream that sends nothing but pings for this long is given up (pings do not count). */
  idleMs: number;
  /** Events to write after a tool_use block stops (its tool_call_requested). */
  onToolUse: (block: { id: string; name: string; input: Record<string, unknown> }) => ConversationEvent[];
  /** Called with each block change as it streams (the prompt's time to first token). */
  onBlockChange?: () => void;
  signal: AbortSignal;
}

/**
 * One model call through the SDK: every stream event goes through the stream reducer, and each
 * block change it yields goes to the reply writer as it arrives. Resolves with the SDK's final
 * message (stop reason and usage) once every write has landed.
 */
export async function callModel({ anthropic, request, writer, idleMs, onToolUse, onBlockChange, signal }: ModelCall): Promise<ApiMessage> {
  const reducer = new StreamReducer();
  // Stream index → position in the reply: the writer places blocks, the stream numbers them.
  const positions = new Map<number, number>();
  // Aborted by this call itself, with the reason the prompt fails: a stall, or too many blocks.
  const stop = new AbortController();
  // The SDK's timeout covers the wait for response headers only: a stream that stalls after
  // them would hold the prompt (and its conversation's queue) until the socket gives up.
  let idle = setTimeout(() => stop.abort(new ModelStalled(idleMs)), idleMs);
  const apply = (change: BlockChange, cutOff = false) => {
    if (change.type === 'start') {
      // Stopping the stream at once saves the tokens of an answer that can no longer be kept.
      if (!writer.fits()) return stop.abort(new ReplyTooLong(writer.maxBlocks));
      positions.set(change.index, writer.start(change.content));
      return;
    }
    const position = positions.get(change.index);
    if (position === undefined) return;
    if (change.type === 'delta') return writer.delta(position, change.delta);
    // A tool call cut off mid-input is kept, but nobody is asked to run it.
    const extra = change.content.type === 'tool_use' && !cutOff ? onToolUse(change.content) : [];
    writer.stop(position, change.content, extra);
  };
  const stream = anthropic.messages.stream(request, { signal: AbortSignal.any([signal, stop.signal, writer.failed]) });
  stream.on('streamEvent', (event: RawMessageStreamEvent) => {
    // Pings keep a connection open; they are no sign that the answer moves on.
    if ((event.type as string) !== 'ping') {
      clearTimeout(idle);
      idle = setTimeout(() => stop.abort(new ModelStalled(idleMs)), idleMs);
    }
    const change = reducer.apply(event);
    if (change) {
      onBlockChange?.();
      apply(change);
    }
  });
  try {
    const final = await stream.finalMessage();
    await writer.settle();
    return final;
  } catch (error) {
    if (signal.aborted) throw error;
    // A failed write stops the stream: what follows could not be stored either.
    if (writer.failed.aborted) throw writer.failed.reason;
    if (stop.signal.aborted) throw stop.signal.reason;
    throw error;
  } finally {
    clearTimeout(idle);
    // A stream cut off (or one that ended without stopping a block) keeps what it streamed.
    for (const change of reducer.closeAll()) apply(change, true);
  }
}
