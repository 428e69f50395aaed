import type Anthropic from '@anthropic-ai/sdk';
import type { Tool } from '@anthropic-ai/sdk/resources/messages';
import type { PromptOutcome } from '../../domain/lifecycle.ts';
import type { Claim, ConversationRecord, ConversationSettings, MessageRecord, Owner, Usage } from '../../domain/records.ts';
import type { Logger } from '../../logger.ts';
import type { ClientCallStore } from '../../store/client-call-store.ts';
import type { ConversationStore } from '../../store/conversation-store.ts';
import { isDatabaseUnavailable } from '../../store/database-unavailable.ts';
import type { ReplyStore } from '../../store/reply-store.ts';
import type { SnapshotStore } from '../../store/snapshot-store.ts';
import type { ToolExecutor } from '../../tools/tool-executor.ts';
import { validateRequest } from '../history/index.ts';
import { AttemptContext, type ContextFitterDeps } from '../context/context-fitter.ts';
import { promptTooLong } from '../context/context-errors.ts';
import type { PromptSlot } from '../claim-loop.ts';
import type { ClientToolWaiter } from './client-tool-waiter.ts';
import type { BudgetGate } from './budget-gate.ts';
import { retryWhileDatabaseUnavailable } from './database-retry.ts';
import { callModel } from './model-call.ts';
import { addUsage, emptyUsage, outcomeOfFailure, outcomeOfStop, sumUsage } from './outcome.ts';
import { logPromptEnd, type PromptTimes } from './prompt-log.ts';
import type { AttemptTelemetry, PromptTelemetry } from './prompt-telemetry.ts';
import { stopCauseOf } from './prompt-stopped.ts';
import { ReplyWriter } from './reply-writer.ts';
import { runToolRound, toolCallKind, type PromptTools } from './tool-round.ts';

export interface PromptRunnerOptions {
  /** Model calls that end in tool use, per prompt, before the prompt ends with `max_tool_rounds`. */
  maxToolRounds: number;
  /** How long text deltas gather before they are written and published together. */
  deltaFlushMs: number;
  /** A model stream that sends nothing but pings for this long is given up (pings do not count). */
  modelIdleTimeoutMs: number;
  /** Blocks one reply may hold over all its tool rounds; beyond it the prompt fails. */
  maxBlocksPerMessage: number;
  /**
   * How long a prompt's final write (its outcome, or giving it back to the queue) is retried
   * while the database is unreachable; past that, lease recovery takes over.
   */
  databaseRetryMs: number;
}

export interface PromptRunnerDeps {
  conversations: ConversationStore;
  snapshots: SnapshotStore;
  replies: ReplyStore;
  clientCalls: ClientCallStore;
  anthropic: Anthropic;
  tools: ToolExecutor;
  clientTools: ClientToolWaiter;
  /** The tenant's budgets, met before each model request. */
  budget: BudgetGate;
  logger: Logger;
  /** Metrics and spans of each attempt. */
  telemetry: PromptTelemetry;
  /** Context management: what fits histories into the model's window. */
  context: ContextFitterDeps;
  options: PromptRunnerOptions;
}

/** What the attempt has done so far that its last write must know of. */
interface Attempt {
  replyId: string | null;
  /** Summed over the model calls that finished. */
  usage: Usage;
  /** The model the conversation asks for, once it was read. */
  model: string | null;
  times: PromptTimes;
  telemetry: AttemptTelemetry;
}

/**
 * Answers one claimed user message, as docs/engine.md draws it: start the reply; then round
 * after round run the tools the reply asks for, build the history, call the model and write
 * what it streams; then record the outcome. Every write is fenced by the claim; losing the
 * claim stops the prompt without writing.
 */
export class PromptRunner {
  readonly #deps: PromptRunnerDeps;

  constructor(deps: PromptRunnerDeps) {
    this.#deps = deps;
  }

  /** Runs the prompt to its end. Does not throw for anything the prompt itself can record. */
  readonly run = (claim: Claim, signal: AbortSignal, slot: PromptSlot): Promise<void> => {
    const telemetry = this.#deps.telemetry.attempt(claim, claim.traceparent);
    const attempt: Attempt = { replyId: null, usage: emptyUsage(), model: null, times: { startedAt: performance.now(), firstTokenAt: null }, telemetry };
    // Whatever way it ends, the attempt's span ends (ending one twice is a no-op).
    return telemetry.run(() => this.#run(claim, signal, slot, attempt)).finally(() => telemetry.abandoned());
  };

  async #run(claim: Claim, signal: AbortSignal, slot: PromptSlot, attempt: Attempt): Promise<void> {
    const { replies, logger } = this.#deps;
    const retryMs = this.#deps.options.databaseRetryMs;
    let outcome: PromptOutcome | null;
    try {
      outcome = await this.#attempt(claim, signal, attempt, slot);
    } catch (error) {
      if (!isDatabaseUnavailable(error)) throw error;
      // What streamed since the last write is gone, and whether that write landed is unknown:
      // the message goes back to the queue and a new attempt answers it from the start (this
      // attempt's reply is marked interrupted and left out of history).
      logger.warn('the database went away during a prompt; it goes back to the queue', { messageId: claim.messageId });
      attempt.telemetry.released();
      await retryWhileDatabaseUnavailable(() => replies.release(claim, attempt.replyId), retryMs).catch((failure: unknown) => {
        if (!isDatabaseUnavailable(failure)) throw failure;
        logger.warn('the database stayed away; the message is recovered when its lease runs out', { messageId: claim.messageId });
      });
      return;
    }
    if (outcome === null) return;
    const ended = outcome;
    const written = await retryWhileDatabaseUnavailable(() => replies.finish(claim, attempt.replyId, ended), retryMs);
    // Also when a retried write had landed before its connection dropped.
    if (!written) {
      attempt.telemetry.fenced();
      logger.warn('the prompt had already ended, or its claim was lost; this result was not written', { messageId: claim.messageId });
    } else {
      attempt.telemetry.ended(ended);
      logPromptEnd(logger, claim, ended, attempt);
    }
  }

  /** Runs the prompt; returns the outcome to record, or null when there is nothing more to write. */
  async #attempt(claim: Claim, signal: AbortSignal, attempt: Attempt, slot: PromptSlot): Promise<PromptOutcome | null> {
    const { replies, logger, options } = this.#deps;
    const conversation = await this.#deps.conversations.get(tenantOf(claim), claim.conversationId);
    if (!conversation) return null; // deleted meanwhile: its messages went with it
    attempt.model = conversation.settings.model;
    const reply = await replies.startReply(claim, conversation.settings.model);
    if (!reply) return null;
    attempt.replyId = reply.id;
    const writer = new ReplyWriter(replies, claim, reply, {
      flushMs: options.deltaFlushMs,
      maxBlocks: options.maxBlocksPerMessage,
      onFenced: () => attempt.telemetry.fenced(),
    });
    try {
      const outcome = await this.#rounds(claim, conversation, writer, attempt, signal, slot);
      await writer.settle();
      return outcome;
    } catch (error) {
      const cause = stopCauseOf(signal, error);
      if (cause === 'lease_lost') {
        // Another instance owns the message now; this one's reply stops where it was.
        logger.warn('the prompt lost its lease and stopped; another attempt answers the message', { attempt: claim.attempt });
        attempt.telemetry.leaseLost();
        return null;
      }
      if (cause === null && isDatabaseUnavailable(error)) throw error;
      // What streamed before the stop is kept: a partial text block is still worth showing.
      await writer.settle().catch(() => undefined);
      if (cause === 'shutdown') {
        // Not the message's fault: another instance (or this one, restarted) answers it. With the
        // database away this throws, and run() retries giving it back.
        await replies.release(claim, reply.id);
        attempt.telemetry.released();
        return null;
      }
      const outcome = outcomeOfFailure(cause, error, attempt.usage);
      if (outcome.error?.code === 'internal') logger.error('prompt failed on an internal error', { messageId: claim.messageId, error });
      return outcome;
    }
  }

  /** Tool round, history, model call; again while the model asks for tools and rounds are left. */
  async #rounds(claim: Claim, conversation: ConversationRecord, writer: ReplyWriter, attempt: Attempt, signal: AbortSignal, slot: PromptSlot): Promise<PromptOutcome> {
    const { anthropic, options, logger } = this.#deps;
    const { settings } = conversation;
    const tools: PromptTools = {
      executor: this.#deps.tools,
      clientTools: this.#deps.clientTools,
      clientCalls: this.#deps.clientCalls,
      clientToolNames: new Set(settings.clientTools.map((tool) => tool.name)),
      slot,
      telemetry: attempt.telemetry,
    };
    const definitions = toolDefinitions(this.#deps.tools, settings);
    const earlier = (await this.#deps.snapshots.messages(tenantOf(claim), claim.conversationId)) ?? [];
    const context = await AttemptContext.open(this.#deps.context, claim.conversationId);
    // What the API counted when it refused the last request as too long for the window.
    let refused: { tokens: number; limit: number } | undefined;
    // The last model request stopped with pause_turn: the next one continues the reply.
    let continuing = false;
    for (let round = 0; ; round++) {
      signal.throwIfAborted();
      // Calls the last model call asked for (or that an earlier attempt left open) come first.
      await runToolRound(claim, writer, tools, signal);
      const fitted = await context.fit({
        claim,
        conversation,
        messages: withReply(earlier, writer.reply),
        tools: definitions,
        replyId: writer.replyId,
        round,
        signal,
        telemetry: attempt.telemetry,
        ...(refused === undefined ? {} : { refused }),
        continuing,
      });
      if (fitted.compactionUsage) attempt.usage = sumUsage(attempt.usage, fitted.compactionUsage);
      const request = fitted.request;
      const problems = validateRequest(request, { continuing });
      // A bug in the history builder: never send what the API would reject.
      if (problems.length > 0) throw new Error(`history builder produced an invalid request: ${problems.join('; ')}`);
      await this.#deps.budget.beforeRequest({ tenantId: claim.ownerId, subjectId: conversation.subjectId }, round === 0, signal, slot);
      const startedAt = new Date();
      const watch = attempt.telemetry.modelRequest(request);
      let streamed = false;
      const final = await callModel({
        anthropic,
        request,
        writer,
        idleMs: options.modelIdleTimeoutMs,
        onToolUse: (block) => [
          { type: 'tool_call_requested', messageId: writer.replyId, toolUseId: block.id, name: block.name, input: block.input, kind: toolCallKind(tools, block.name) },
        ],
        onBlockChange: () => {
          attempt.times.firstTokenAt ??= performance.now();
          streamed = true;
          watch.firstToken();
        },
        signal,
      }).catch((error: unknown) => {
        watch.failed(signal.aborted ? 'aborted' : (outcomeOfFailure(null, error, attempt.usage).error?.code ?? 'internal'), error);
        return error instanceof Error ? error : new Error(String(error));
      });
      if (final instanceof Error) {
        // The estimate was short of the API's count: once, fit again by the API's own figure.
        const tooLong = promptTooLong(final);
        if (tooLong === null || refused !== undefined || streamed) throw final;
        logger.warn('the model API refused a request as too long for its context window; the history is fitted to its count', { ...tooLong, configuredWindow: this.#deps.context.windowTokens });
        refused = tooLong;
        round--;
        continue;
      }
      refused = undefined;
      continuing = final.stop_reason === 'pause_turn';
      watch.ended(final);
      context.calibration.observe(request, final.usage.input_tokens + (final.usage.cache_read_input_tokens ?? 0) + (final.usage.cache_creation_input_tokens ?? 0));
      attempt.usage = addUsage(attempt.usage, final.usage);
      writer.recordUsage({
        tenantId: claim.ownerId,
        subjectId: conversation.subjectId,
        conversationId: claim.conversationId,
        messageId: claim.messageId,
        replyId: writer.replyId,
        attempt: claim.attempt,
        round,
        model: request.model,
        usage: addUsage(emptyUsage(), final.usage),
        webSearchRequests: final.usage.server_tool_use?.web_search_requests ?? 0,
        stopReason: final.stop_reason,
        startedAt,
        endedAt: new Date(),
      });
      const outcome = outcomeOfStop(final.stop_reason, round + 1 >= options.maxToolRounds, attempt.usage, final.stop_details);
      if (outcome) return outcome;
    }
  }
}

/** The tools offered to the model: the enabled ones Parley runs, then the conversation's client tools. */
function toolDefinitions(executor: ToolExecutor, settings: ConversationSettings): Tool[] {
  return [
    ...executor.definitions(settings.enabledTools.filter((name) => executor.has(name))),
    ...settings.clientTools.map((tool) => ({ name: tool.name, description: tool.description, input_schema: tool.inputSchema as Tool['input_schema'] })),
  ];
}

function withReply(messages: MessageRecord[], reply: MessageRecord): MessageRecord[] {
  return [...messages.filter((m) => m.id !== reply.id), reply];
}

/** A claimed prompt acts for its conversation's tenant: the claim was checked when it was sent. */
function tenantOf(claim: Claim): Owner {
  return { tenantId: claim.ownerId, subjectId: null };
}
