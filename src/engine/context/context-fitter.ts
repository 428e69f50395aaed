// Context management: the request the history builder makes, brought within the model's window
// before it is sent. Past the conversation's trigger, old tool calls are cleared first; if that
// is not enough, older exchanges are summarized by a model request into a compaction, stored,
// that stands for them from then on. docs/engine.md, "Context management", tells the policy.
import type Anthropic from '@anthropic-ai/sdk';
import type { MessageCreateParamsBase, Tool } from '@anthropic-ai/sdk/resources/messages';
import { contextBudget, DEFAULT_TRIGGER_SHARE, type ContextBudget } from '../../domain/context-policy.ts';
import type { Claim, ConversationRecord, MessageRecord, Usage } from '../../domain/records.ts';
import type { CompactionStore, StoredCompaction } from '../../store/compaction-store.ts';
import { buildHistory, exchangeTurns, pastExchanges, selectExchanges, type Exchange } from '../history/index.ts';
import type { AttemptTelemetry } from '../prompt/prompt-telemetry.ts';
import { addUsage, emptyUsage, sumUsage } from '../prompt/outcome.ts';
import { PromptStopped } from '../prompt/prompt-stopped.ts';
import { clearOldToolUses } from './clear-tool-uses.ts';
import { COMPACTION_TARGET_SHARE, exchangesToSummarize } from './compaction-plan.ts';
import { ContextTooLong } from './context-errors.ts';
import { TokenCalibration } from './estimate.ts';
import { SUMMARY_MAX_TOKENS, summaryRequest, transcriptOf } from './summary-request.ts';

export interface ContextFitterDeps {
  anthropic: Anthropic;
  compactions: CompactionStore;
  /** The context window of the models this instance talks to. */
  windowTokens: number;
}

export interface FitInput {
  claim: Claim;
  conversation: ConversationRecord;
  /** Every message of the conversation with the reply in progress. */
  messages: MessageRecord[];
  tools: Tool[];
  replyId: string;
  round: number;
  signal: AbortSignal;
  telemetry: AttemptTelemetry;
  /** The last model request of the prompt paused (pause_turn): this one continues it. */
  continuing?: boolean;
  /**
   * What the API counted, and the most it takes, when it refused this request as too long: the
   * estimate and the configured window are not trusted then.
   */
  refused?: { tokens: number; limit: number };
}

export interface FittedRequest {
  request: MessageCreateParamsBase;
  estimatedTokens: number;
  clearedToolUses: number;
  /** Usage of the compaction this fit made, to add to the reply's. */
  compactionUsage: Usage | null;
}

/** Compactions one fit may make before it gives up on the history. */
const MAX_COMPACTIONS_PER_FIT = 4;

/** The context of one prompt attempt: its latest compaction and what the API's counts taught. */
export class AttemptContext {
  readonly calibration = new TokenCalibration();
  readonly #deps: ContextFitterDeps;
  #compaction: StoredCompaction | null;
  /** The most the API took, once it refused a request of this attempt as too long. */
  #apiLimit: number | null = null;

  constructor(deps: ContextFitterDeps, compaction: StoredCompaction | null) {
    this.#deps = deps;
    this.#compaction = compaction;
  }

  static async open(deps: ContextFitterDeps, conversationId: string): Promise<AttemptContext> {
    return new AttemptContext(deps, await deps.compactions.latest(conversationId));
  }

  async fit(input: FitInput): Promise<FittedRequest> {
    const { settings } = input.conversation;
    const request = this.#build(input);
    if (input.refused) {
      this.calibration.observe(request, input.refused.tokens);
      this.#apiLimit = Math.min(this.#apiLimit ?? Infinity, input.refused.limit);
    }
    const budget = narrowed(contextBudget(settings.context, this.#deps.windowTokens, settings.maxTokens), this.#apiLimit);
    const tokens = this.calibration.estimate(request);
    if (tokens <= budget.triggerTokens) return { request, estimatedTokens: tokens, clearedToolUses: 0, compactionUsage: null };
    if (budget.strategy === 'off') return fits(budget, { request, estimatedTokens: tokens, clearedToolUses: 0, compactionUsage: null });
    let fitted = this.#cleared(request, budget);
    if (fitted.estimatedTokens <= budget.triggerTokens || budget.strategy === 'clear_tool_uses') return fits(budget, fitted);
    // Each compaction summarizes what its own request can hold: a history longer than the
    // window takes a few, each summary folding in the one before.
    let usage: Usage | null = null;
    for (let pass = 0; pass < MAX_COMPACTIONS_PER_FIT && fitted.estimatedTokens > budget.triggerTokens; pass++) {
      const made = await this.#compact(input, budget, fitted.estimatedTokens);
      if (!made) break;
      usage = sumUsage(usage ?? emptyUsage(), made.usage);
      fitted = { ...made.fitted, compactionUsage: usage };
    }
    return fits(budget, fitted);
  }

  #build(input: FitInput): MessageCreateParamsBase {
    return buildHistory({
      settings: input.conversation.settings,
      messages: input.messages,
      currentMessageId: input.claim.messageId,
      tools: input.tools,
      compaction: this.#compaction,
      continuing: input.continuing === true,
    });
  }

  #cleared(request: MessageCreateParamsBase, budget: ContextBudget): FittedRequest {
    const { messages, clearedToolUses } = clearOldToolUses(request.messages, budget.keepToolUses);
    const cleared = { ...request, messages };
    return { request: cleared, estimatedTokens: this.calibration.estimate(cleared), clearedToolUses, compactionUsage: null };
  }

  /**
   * Summarizes the oldest exchanges that must go for the history to come down to its target,
   * and stores the compaction. Returns the usage of the summarizing request and the request the
   * history now makes, or null when there is nothing older left to summarize.
   */
  async #compact(input: FitInput, budget: ContextBudget, tokensBefore: number): Promise<{ usage: Usage; fitted: FittedRequest } | null> {
    const { claim, conversation } = input;
    const { settings } = conversation;
    const selected = selectExchanges(input.messages, claim.messageId);
    const { exchanges } = pastExchanges(selected.past, this.#compaction);
    const policy = () => ({ thinking: settings.thinking.mode === 'adaptive' || settings.thinkingBudgetTokens > 0, seenToolUseIds: new Set<string>() });
    const sizeOf = (exchange: Exchange) => this.calibration.estimate({ messages: clearOldToolUses(exchangeTurns(exchange, policy()), budget.keepToolUses).messages });
    const base = this.calibration.estimate({ system: settings.systemPrompt, tools: input.tools, messages: [] });
    // The summary's room: what its request may write (summaryRequest's max_tokens).
    const summaryTokens = Math.min(SUMMARY_MAX_TOKENS, settings.maxTokens);
    const count = exchangesToSummarize({
      past: exchanges.map(sizeOf),
      fixedTokens: base + sizeOf(selected.current) + summaryTokens,
      targetTokens: Math.floor(budget.triggerTokens * COMPACTION_TARGET_SHARE),
    });
    if (count === 0) return null;
    // As many of them as the summarizing request itself can hold, with room for the summary.
    const room = budget.limitTokens - summaryTokens;
    const previousSummary = this.#compaction?.summary ?? null;
    const requestFor = (chunk: readonly Exchange[]) => summaryRequest(settings.model, transcriptOf(chunk, previousSummary), settings.maxTokens);
    let take = count;
    while (take > 1 && this.calibration.estimate(requestFor(exchanges.slice(0, take))) > room) take -= 1;
    const summarized = exchanges.slice(0, take);
    const request = fitTranscript(requestFor(summarized), (r) => this.calibration.estimate(r) <= room);
    const watch = input.telemetry.modelRequest(request);
    const startedAt = new Date();
    let response: Anthropic.Messages.Message;
    try {
      response = await this.#deps.anthropic.messages.create({ ...request, stream: false }, { signal: input.signal });
    } catch (error) {
      watch.failed(input.signal.aborted ? 'aborted' : 'compaction_failed', error);
      throw error;
    }
    watch.ended(response);
    const summary = response.content.flatMap((block) => (block.type === 'text' ? [block.text] : [])).join('\n').trim();
    if (summary === '') throw new Error('the model returned an empty summary for a compaction');
    const next = { throughMessageId: summarized.at(-1)!.user.id, summary };
    const previous = this.#compaction;
    this.#compaction = next;
    const fitted = this.#cleared(this.#build(input), budget);
    const tokensAfter = fitted.estimatedTokens;
    const usage = addUsage(emptyUsage(), response.usage);
    const saved = await this.#deps.compactions.save(
      claim,
      {
        ...next,
        replyId: input.replyId,
        model: settings.model,
        tokensBefore,
        tokensAfter,
        usage: {
          tenantId: claim.ownerId,
          subjectId: conversation.subjectId,
          conversationId: claim.conversationId,
          messageId: claim.messageId,
          replyId: input.replyId,
          attempt: claim.attempt,
          round: input.round,
          model: settings.model,
          usage,
          webSearchRequests: 0,
          stopReason: response.stop_reason,
          startedAt,
          endedAt: new Date(),
        },
      },
      { type: 'context_compacted', messageId: claim.messageId, replyId: input.replyId, throughMessageId: next.throughMessageId, summary, tokensBefore, tokensAfter, usage },
    );
    if (!saved) {
      this.#compaction = previous;
      throw new PromptStopped('lease_lost');
    }
    return { usage, fitted };
  }
}

/**
 * A summarizing request of one exchange that is still too long (a huge message) keeps the
 * beginning and the end of its transcript: what the summary most needs of a long text.
 */
function fitTranscript(request: MessageCreateParamsBase, fitsWindow: (request: MessageCreateParamsBase) => boolean): MessageCreateParamsBase {
  let fitted = request;
  const [message] = request.messages;
  if (!message || typeof message.content !== 'string') return request;
  let keep = message.content.length;
  while (!fitsWindow(fitted) && keep > 2_000) {
    keep = Math.floor(keep * 0.7);
    const half = Math.floor(keep / 2);
    const text = message.content;
    fitted = { ...request, messages: [{ role: 'user', content: `${text.slice(0, half).toWellFormed()}\n[…]\n${text.slice(text.length - half).toWellFormed()}` }] };
  }
  return fitted;
}

/** The budget within what the API said it takes, when it said so. */
function narrowed(budget: ContextBudget, apiLimit: number | null): ContextBudget {
  if (apiLimit === null || apiLimit >= budget.limitTokens) return budget;
  return { ...budget, limitTokens: apiLimit, triggerTokens: Math.min(budget.triggerTokens, Math.floor(apiLimit * DEFAULT_TRIGGER_SHARE)) };
}

function fits(budget: ContextBudget, fitted: FittedRequest): FittedRequest {
  if (fitted.estimatedTokens > budget.limitTokens) throw new ContextTooLong(fitted.estimatedTokens, budget.limitTokens);
  return fitted;
}
