import type { AppliedEdit } from './context-editing.ts';
import { noCache, type CacheUsage } from './prompt-cache.ts';
import { messageUsage, responseSearchContent, usage, type ResponseBlock, type ResponseMessage, type StopDetails } from './response.ts';
import { splitIntoTokens } from './tokens.ts';
import type { ReplyBlock, ReplyTurn, StopReason } from './types.ts';

export type { ResponseBlock, ResponseMessage, ResponseWebSearchResult, StopDetails } from './response.ts';

/**
 * Turns a scripted reply into the exact sequence of stream events the API would send, plus the
 * equivalent non-streaming Message. Pure: ids and signatures come in through the context, so the
 * server only has to pace, interleave pings and inject faults.
 */

export interface PlanContext {
  readonly model: string;
  readonly maxTokens: number;
  readonly stopSequences: readonly string[];
  readonly inputTokens: number;
  /** How the input splits into cache reads, writes and the rest; default: all plain input. */
  readonly cache?: CacheUsage;
  /**
   * `omitted` (the request's `thinking.display`): thinking blocks carry an empty text and only
   * their signature, as @anthropic-ai/sdk's ThinkingConfigAdaptive documents; the tokens are
   * still billed.
   */
  readonly thinkingDisplay?: 'summarized' | 'omitted';
  /** Reported on `message_delta` and on the whole message, where the API reports it. */
  readonly contextManagement?: { readonly applied_edits: readonly AppliedEdit[] };
  readonly messageId: string;
  readonly newToolUseId: () => string;
  readonly sign: (thinking: string) => string;
}

export interface StreamEventData {
  readonly type: string;
  readonly [key: string]: unknown;
}

export interface PlannedEvent {
  readonly data: StreamEventData;
  /** Output tokens this event carries: 1 for a content delta, else 0. */
  readonly tokens: 0 | 1;
}

export interface ReplyPlan {
  /** From `message_start` to `message_stop`. */
  readonly events: readonly PlannedEvent[];
  readonly message: ResponseMessage;
  /** Every thinking signature sent, with the exact text it signs. */
  readonly signatures: ReadonlyMap<string, string>;
}

interface StopSequenceHit {
  readonly at: number;
  readonly sequence: string;
}

function firstStopSequence(text: string, sequences: readonly string[]): StopSequenceHit | undefined {
  let hit: StopSequenceHit | undefined;
  for (const sequence of sequences) {
    if (sequence.length === 0) continue;
    const at = text.indexOf(sequence);
    if (at >= 0 && (hit === undefined || at < hit.at)) hit = { at, sequence };
  }
  return hit;
}

export function planReply(turn: ReplyTurn, context: PlanContext): ReplyPlan {
  const model = turn.model ?? context.model;
  const cache = context.cache ?? noCache(context.inputTokens);
  const omitThinking = context.thinkingDisplay === 'omitted';
  const events: PlannedEvent[] = [];
  const content: ResponseBlock[] = [];
  const signatures = new Map<string, string>();
  const emit = (data: StreamEventData, tokens: 0 | 1 = 0): void => {
    events.push({ data, tokens });
  };
  let used = 0;
  let stop: { reason: StopReason; sequence: string | null } | undefined;
  let sentToolUse = false;
  let webSearches = 0;
  let pingSent = false;

  emit({
    type: 'message_start',
    message: {
      id: context.messageId,
      type: 'message',
      role: 'assistant',
      model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      stop_details: null,
      // The API reports one output token before any content is generated.
      usage: messageUsage(cache, 1),
    },
  });

  /** Emits the chunks that fit under max_tokens; returns what was sent. */
  const streamChunks = (index: number, chunks: readonly string[], delta: (chunk: string) => StreamEventData): string => {
    let sent = '';
    for (const chunk of chunks) {
      if (used >= context.maxTokens) {
        stop = { reason: 'max_tokens', sequence: null };
        break;
      }
      emit({ type: 'content_block_delta', index, delta: delta(chunk) }, 1);
      used += 1;
      sent += chunk;
    }
    return sent;
  };

  const startBlock = (index: number, block: StreamEventData): void => {
    emit({ type: 'content_block_start', index, content_block: block });
    // The API sends one ping right after the first block starts; clients must skip it.
    if (!pingSent) {
      emit({ type: 'ping' });
      pingSent = true;
    }
  };

  /** Streams a tool input and stops its block; returns the input the message holds. */
  const streamInput = (index: number, input: unknown): unknown => {
    const json = JSON.stringify(input ?? {});
    // The API opens every tool input with an empty partial_json delta.
    emit({ type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: '' } });
    const sent = streamChunks(index, splitIntoTokens(json), (chunk) => ({
      type: 'input_json_delta',
      partial_json: chunk,
    }));
    emit({ type: 'content_block_stop', index });
    return sent === json ? (input ?? {}) : {};
  };

  for (const block of turn.blocks) {
    if (stop !== undefined) break;
    if (used >= context.maxTokens && producesTokens(block)) {
      stop = { reason: 'max_tokens', sequence: null };
      break;
    }
    const index = content.length;
    switch (block.type) {
      case 'text': {
        const hit = firstStopSequence(block.text, context.stopSequences);
        const text = hit ? block.text.slice(0, hit.at) : block.text;
        startBlock(index, { type: 'text', text: '' });
        const sent = streamChunks(index, splitIntoTokens(text), (chunk) => ({ type: 'text_delta', text: chunk }));
        emit({ type: 'content_block_stop', index });
        content.push({ type: 'text', text: sent });
        if (hit && stop === undefined) stop = { reason: 'stop_sequence', sequence: hit.sequence };
        break;
      }
      case 'thinking': {
        startBlock(index, { type: 'thinking', thinking: '', signature: '' });
        if (omitThinking) {
          // Thought and billed, but not shown: no thinking_delta, only the signature, which
          // vouches for the empty text the client will send back.
          const tokens = Math.min(splitIntoTokens(block.thinking).length, context.maxTokens - used);
          used += tokens;
          // Not the signature the shown text would get: each vouches for a different replay.
          const signature = block.signature ?? context.sign(`omitted:${block.thinking}`);
          signatures.set(signature, '');
          emit({ type: 'content_block_delta', index, delta: { type: 'signature_delta', signature } });
          emit({ type: 'content_block_stop', index });
          content.push({ type: 'thinking', thinking: '', signature });
          break;
        }
        const sent = streamChunks(index, splitIntoTokens(block.thinking), (chunk) => ({
          type: 'thinking_delta',
          thinking: chunk,
        }));
        const signature = block.signature ?? context.sign(sent);
        signatures.set(signature, sent);
        emit({ type: 'content_block_delta', index, delta: { type: 'signature_delta', signature } });
        emit({ type: 'content_block_stop', index });
        content.push({ type: 'thinking', thinking: sent, signature });
        break;
      }
      case 'redacted_thinking': {
        startBlock(index, { type: 'redacted_thinking', data: block.data });
        emit({ type: 'content_block_stop', index });
        content.push({ type: 'redacted_thinking', data: block.data });
        break;
      }
      case 'tool_use': {
        const id = block.id ?? context.newToolUseId();
        startBlock(index, { type: 'tool_use', id, name: block.name, input: {} });
        content.push({ type: 'tool_use', id, name: block.name, input: streamInput(index, block.input) });
        sentToolUse = true;
        break;
      }
      case 'server_tool_use': {
        // Streams like a tool_use but leaves the stop reason alone: the API runs the tool itself
        // and the reply goes on.
        startBlock(index, { type: 'server_tool_use', id: block.id, name: block.name, input: {} });
        content.push({ type: 'server_tool_use', id: block.id, name: block.name, input: streamInput(index, block.input) });
        break;
      }
      case 'web_search_tool_result': {
        const result = {
          type: 'web_search_tool_result' as const,
          tool_use_id: block.tool_use_id,
          content: responseSearchContent(block.content),
        };
        startBlock(index, result);
        emit({ type: 'content_block_stop', index });
        content.push(result);
        // A failed search is not billed, so the API does not count it.
        if (Array.isArray(result.content)) webSearches += 1;
        break;
      }
    }
  }
  if (!pingSent) emit({ type: 'ping' });

  const contextManagement = context.contextManagement ? { context_management: context.contextManagement } : {};
  const scripted = turn.stopReason ?? (turn.refusal ? 'refusal' : sentToolUse ? 'tool_use' : 'end_turn');
  const final = stop ?? { reason: scripted, sequence: null };
  // Only a refusal has details to report (the SDK's StopDetails union has no other member).
  const stopDetails: StopDetails | null =
    final.reason === 'refusal' ? { type: 'refusal', category: turn.refusal?.category ?? null, explanation: turn.refusal?.explanation ?? null } : null;
  const serverTools = webSearches > 0 ? { web_search_requests: webSearches, web_fetch_requests: 0 } : undefined;
  emit({
    type: 'message_delta',
    delta: { stop_reason: final.reason, stop_sequence: final.sequence, stop_details: stopDetails },
    usage: usage(cache, used, serverTools),
    ...contextManagement,
  });
  emit({ type: 'message_stop' });

  return {
    events,
    signatures,
    message: {
      id: context.messageId,
      type: 'message',
      role: 'assistant',
      model,
      content,
      stop_reason: final.reason,
      stop_sequence: final.sequence,
      stop_details: stopDetails,
      usage: messageUsage(cache, used, serverTools),
      ...contextManagement,
    },
  };
}

function producesTokens(block: ReplyBlock): boolean {
  switch (block.type) {
    case 'text':
      return block.text.length > 0;
    case 'thinking':
      return block.thinking.length > 0;
    case 'redacted_thinking':
      return false;
    case 'tool_use':
    case 'server_tool_use':
      return true;
    case 'web_search_tool_result':
      return false;
  }
}
