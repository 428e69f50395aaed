/*
 * The history builder: the one function that turns stored data into a Messages API request.
 *
 * WHICH MESSAGES ARE INCLUDED (the rule; select-exchanges.ts implements it)
 *   1. Every user message created before the current one whose status is `completed`, each
 *      followed by its latest (in creation order) `completed` assistant reply.
 *   2. Then the current user message, followed by the blocks of its reply in progress: the
 *      latest assistant message replying to it with status `processing`, if any.
 *   Nothing else: queued user messages, user messages created after the current one, failed
 *   and cancelled user messages together with all of their replies, and every assistant
 *   attempt that failed, was cancelled or is still processing for an earlier message, even
 *   when its user message later completed through a retry. A block of a failed prompt can
 *   never reach the model.
 *
 * HOW THEY BECOME TURNS
 *   - A user message contributes its non-blank text blocks.
 *   - An assistant message holds a whole reply including its tool rounds; it is split into
 *     alternating turns: assistant blocks, the tool_result blocks that follow them as a user
 *     turn, assistant blocks again, and so on.
 *   - Blank text is dropped. Thinking and redacted_thinking are replayed exactly as stored when
 *     thinking is on (dropped if they lack their signature / data), and dropped when it is off.
 *   - Same-role neighbours are merged; empty turns vanish; a leading assistant turn is dropped.
 *   - After an assistant turn with tool_use blocks the next user turn starts with exactly their
 *     results, in tool_use order; a missing result is synthesized as an error; results that
 *     answer nothing in the preceding assistant turn are dropped.
 *   - The request ends with a user turn: a trailing assistant turn (partial output of the reply
 *     in progress, never a tool round) is dropped rather than sent as a prefill. Except when
 *     `continuing` a reply the API paused (stop reason pause_turn): the reply so far is sent back
 *     as the last turn, as the API asks, its last text without trailing whitespace (which the
 *     API refuses in a final assistant turn).
 *
 * COMPACTION
 *   With a compaction (context management summarized older turns), the exchanges up to and
 *   including its `throughMessageId` are left out, and its summary opens the history as user
 *   text, merged with the next user turn. A compaction whose message is not among the past
 *   exchanges (it was deleted) is ignored rather than dropping history it does not cover.
 *
 * REQUEST FIELDS
 *   model, max_tokens from settings; `system` as one text block when not blank; `tools` when
 *   any; `thinking: {type: 'enabled', budget_tokens}` when thinkingBudgetTokens > 0, or
 *   `{type: 'adaptive'}` with adaptive thinking (either with `display` when set);
 *   `output_config: {effort}` when an effort is set. Sampling
 *   parameters (temperature) are never sent: the SDK in use speaks API version 2026-10-21, which
 *   rejects them with a 400 even at default values, so settings carry none.
 *   cache_control markers come only from placeCacheBreakpoints.
 *
 * The function is pure: it reads its input, never changes it, and returns fresh objects.
 */

import type { MessageCreateParamsBase, TextBlockParam, Tool } from '@anthropic-ai/sdk/resources/messages';
import type { ConversationSettings, MessageRecord } from '../../domain/records.ts';
import { placeCacheBreakpoints } from './cache-breakpoints.ts';
import { HistoryInputError } from './history-input-error.ts';
import { mergeRequestMessages, pairToolResults } from './pair-tool-results.ts';
import { selectExchanges, type Exchange } from './select-exchanges.ts';
import { assistantRequestMessages, userRequestMessage, type BlockPolicy } from './to-request-messages.ts';
import { isBlank, type RequestMessage } from './request-message.ts';

export interface HistoryInput {
  settings: ConversationSettings;
  /** Every message of the conversation, in creation order. */
  messages: readonly MessageRecord[];
  /** The user message being answered now. */
  currentMessageId: string;
  /** Tool definitions the runner will offer, already chosen. Their cache_control is replaced. */
  tools: readonly Tool[];
  /** The conversation's latest compaction, if any. */
  compaction?: HistoryCompaction | null;
  /** The model paused the reply in progress (pause_turn): send it back to be continued. */
  continuing?: boolean;
}

/** A summary that stands for the exchanges up to and including one user message's. */
export interface HistoryCompaction {
  throughMessageId: string;
  summary: string;
}

/** How a compaction's summary opens the history the model is sent. */
export function summaryText(summary: string): string {
  return `[A summary of the earlier part of this conversation, which grew too long to send whole]\n\n${summary}`;
}

/** The past exchanges the history holds: those after the compaction, when it applies. */
export function pastExchanges(past: readonly Exchange[], compaction: HistoryCompaction | null | undefined): { exchanges: Exchange[]; compacted: boolean } {
  if (!compaction) return { exchanges: [...past], compacted: false };
  const through = past.findIndex((exchange) => exchange.user.id === compaction.throughMessageId);
  if (through < 0) return { exchanges: [...past], compacted: false };
  return { exchanges: past.slice(through + 1), compacted: true };
}

export function exchangeTurns(exchange: Exchange, policy: BlockPolicy): RequestMessage[] {
  const turns = [userRequestMessage(exchange.user)];
  if (exchange.reply !== null) turns.push(...assistantRequestMessages(exchange.reply, policy));
  return turns;
}

/** A final assistant turn's last text block, without the trailing whitespace the API refuses there. */
function trimFinalAssistant(turns: RequestMessage[]): RequestMessage[] {
  const last = turns.at(-1);
  if (last?.role !== 'assistant') return turns;
  const content = [...last.content];
  const block = content.at(-1);
  if (block?.type === 'text') content[content.length - 1] = { ...block, text: block.text.trimEnd() };
  return [...turns.slice(0, -1), { role: 'assistant', content }];
}

/** Returns the request without `stream`; the runner adds it. */
export function buildHistory(input: HistoryInput): MessageCreateParamsBase {
  const { settings } = input;
  const selected = selectExchanges(input.messages, input.currentMessageId);

  const current = userRequestMessage(selected.current.user);
  if (current.content.length === 0) {
    throw new HistoryInputError(`message ${input.currentMessageId} has no text to answer`);
  }

  const adaptive = settings.thinking.mode === 'adaptive';
  const thinking = adaptive || settings.thinkingBudgetTokens > 0;
  const policy: BlockPolicy = { thinking, seenToolUseIds: new Set() };
  const { exchanges, compacted } = pastExchanges(selected.past, input.compaction);
  const opening: RequestMessage[] = compacted && input.compaction ? [{ role: 'user', content: [{ type: 'text', text: summaryText(input.compaction.summary) }] }] : [];
  const raw = [...opening, ...[...exchanges, selected.current].flatMap((exchange) => exchangeTurns(exchange, policy))];
  const turns = trimFinalAssistant(pairToolResults(mergeRequestMessages(raw), { continuing: input.continuing === true }));

  const system: TextBlockParam[] = isBlank(settings.systemPrompt)
    ? []
    : [{ type: 'text', text: settings.systemPrompt }];
  const cached = placeCacheBreakpoints({ tools: [...input.tools], system, messages: turns });

  const request: MessageCreateParamsBase = {
    model: settings.model,
    max_tokens: settings.maxTokens,
    messages: cached.messages.map((turn) => ({ role: turn.role, content: turn.content })),
  };
  if (cached.system.length > 0) request.system = cached.system;
  if (cached.tools.length > 0) request.tools = cached.tools;
  const display = settings.thinking.display === null ? {} : { display: settings.thinking.display };
  if (adaptive) request.thinking = { type: 'adaptive', ...display };
  else if (thinking) request.thinking = { type: 'enabled', budget_tokens: settings.thinkingBudgetTokens, ...display };
  if (settings.thinking.effort !== null) request.output_config = { effort: settings.thinking.effort };
  return request;
}
