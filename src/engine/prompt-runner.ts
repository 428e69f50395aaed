import type Anthropic from '@anthropic-ai/sdk';
import type { Message as ApiMessage, RawMessageStreamEvent, Tool } from '@anthropic-ai/sdk/resources/messages';
import type { Logger } from '../logger.ts';
import type { ConversationStore } from '../store/conversation-store.ts';
import type { Claim, PromptOutcome, PromptStore } from '../store/prompt-store.ts';
import type { BlockContent, ConversationSettings, MessageRecord, Usage } from '../store/records.ts';
import type { ToolExecutor } from '../tools/tool-executor.ts';
import type { ClientToolWaiter } from './client-tool-waiter.ts';
import { PromptStopped } from './conversation-queue.ts';
import { buildHistory, validateRequest } from './history/index.ts';
import { isDatabaseUnavailable } from '../store/database-unavailable.ts';
import { retryWhileDatabaseUnavailable } from './database-retry.ts';
import { describeModelFailure, ModelStalled } from './model-errors.ts';
import { ReplyTooLong, ReplyWriter } from './reply-writer.ts';

export interface PromptRunnerOptions {
  /** Model calls that end in tool use, per prompt, before the prompt ends with `max_tool_rounds`. */
  maxToolRounds: number;
  /** How long text deltas gather before they are written and published together. */
  deltaFlushMs: number;
  /** A model stream that sends nothing (not even a ping) for this long is given up. */
  modelIdleTimeoutMs: number;
  /** Blocks one reply may hold over all its tool rounds; beyond it the prompt fails. */
  maxBlocksPerMessage: number;
  /**
   * How long a prompt's final write (its outcome, or giving it back to the queue) is retried
   * while the database is unreachable; past that, lease recovery takes over.
   */
  databaseRetryMs: number;
}

/** What the attempt has written so far that its last write must know of. */
interface Attempt {
  replyId: string | null;
}

export interface PromptRunnerDeps {
  store: PromptStore;
  conversations: ConversationStore;
  anthropic: Anthropic;
  tools: ToolExecutor;
  clientTools: ClientToolWaiter;
  logger: Logger;
  options: PromptRunnerOptions;
}

/**
 * Answers one claimed user message: builds the history, streams the model through the SDK,
 * turns each stream event into a block change (stored and published by the ReplyWriter), runs
 * requested tools and goes round again, then records the outcome. Every write is fenced by the
 * claim; losing the claim stops the prompt without writing.
 */
export class PromptRunner {
  readonly #deps: PromptRunnerDeps;

  constructor(deps: PromptRunnerDeps) {
    this.#deps = deps;
  }

  readonly run = async (claim: Claim, signal: AbortSignal): Promise<void> => {
    const { store, logger } = this.#deps;
    const retryMs = this.#deps.options.databaseRetryMs;
    const attempt: Attempt = { replyId: null };
    let outcome: PromptOutcome | null;
    try {
      outcome = await this.#attempt(claim, signal, attempt);
    } catch (error) {
      if (!isDatabaseUnavailable(error)) throw error;
      // What streamed since the last write is gone, and whether that write landed is unknown:
      // the message goes back to the queue and a new attempt answers it from the start (this
      // attempt's reply is marked interrupted and left out of history).
      logger.warn('the database went away during a prompt; it goes back to the queue', { messageId: claim.messageId });
      await retryWhileDatabaseUnavailable(() => store.release(claim, attempt.replyId), retryMs).catch((failure: unknown) => {
        if (!isDatabaseUnavailable(failure)) throw failure;
        logger.warn('the database stayed away; the message is recovered when its lease runs out', { messageId: claim.messageId });
      });
      return;
    }
    if (outcome === null) return;
    const ended = outcome;
    const written = await retryWhileDatabaseUnavailable(() => store.finish(claim, attempt.replyId, ended), retryMs);
    // Also when a retried write had landed before its connection dropped.
    if (!written) logger.warn('the prompt had already ended, or its claim was lost; this result was not written', { messageId: claim.messageId });
  };

  /** Runs the prompt; returns the outcome to record, or null when there is nothing more to write. */
  async #attempt(claim: Claim, signal: AbortSignal, attempt: Attempt): Promise<PromptOutcome | null> {
    const { store, logger } = this.#deps;
    const conversation = await this.#deps.conversations.get(claim.ownerId, claim.conversationId);
    if (!conversation) return null; // deleted meanwhile: its messages went with it
    const reply = await store.startReply(claim, conversation.settings.model);
    if (!reply) return null;
    attempt.replyId = reply.id;

    const { deltaFlushMs, maxBlocksPerMessage } = this.#deps.options;
    const writer = new ReplyWriter(store, claim, reply, { flushMs: deltaFlushMs, maxBlocks: maxBlocksPerMessage });
    const usage = emptyUsage();
    try {
      const outcome = await this.#answer(claim, conversation.settings, writer, usage, signal);
      // A stream that ended without stopping a block (it should not) still leaves it whole.
      writer.closeOpenBlocks();
      await writer.settle();
      return outcome;
    } catch (error) {
      const stopped = stopReasonOf(signal, error);
      if (stopped === 'lease_lost') return null; // another instance owns the message now
      if (stopped === null && isDatabaseUnavailable(error)) throw error;
      // Keep what streamed before the stop: a partial text block is still worth showing.
      writer.closeOpenBlocks();
      await writer.settle().catch(() => undefined);
      if (stopped === 'shutdown') {
        // Not the message's fault: another instance (or this one, restarted) answers it. With the
        // database away this throws, and run() retries giving it back.
        await store.release(claim, reply.id);
        return null;
      }
      const outcome = failure(stopped, error, usage);
      if (outcome.error?.code === 'internal') logger.error('prompt failed', { messageId: claim.messageId, error });
      return outcome;
    }
  }

  async #answer(
    claim: Claim,
    settings: ConversationSettings,
    writer: ReplyWriter,
    usage: Usage,
    signal: AbortSignal,
  ): Promise<PromptOutcome> {
    const { tools } = this.#deps;
    const clientTools = new Set(settings.clientTools.map((tool) => tool.name));
    const toolDefinitions: Tool[] = [
      ...tools.definitions(settings.enabledTools.filter((name) => tools.has(name))),
      ...settings.clientTools.map((tool) => ({
        name: tool.name,
        description: tool.description,
        input_schema: tool.inputSchema as Tool['input_schema'],
      })),
    ];
    const earlier = (await this.#deps.conversations.messages(claim.ownerId, claim.conversationId)) ?? [];

    for (let round = 0; ; round++) {
      signal.throwIfAborted();
      // Calls the last model call asked for (or that an earlier attempt left open) come first.
      await this.#runTools(claim, writer, clientTools, signal);
      const request = buildHistory({
        settings,
        messages: withReply(earlier, writer.snapshot()),
        currentMessageId: claim.messageId,
        tools: toolDefinitions,
      });
      const problems = validateRequest(request);
      if (problems.length > 0) {
        // A bug in the history builder: never send what the API would reject.
        throw new Error(`history builder produced an invalid request: ${problems.join('; ')}`);
      }

      const final = await this.#stream(writer, request, clientTools, signal);
      addUsage(usage, final.usage);
      const stopReason = final.stop_reason;

      if (stopReason === 'tool_use') {
        if (round + 1 >= this.#deps.options.maxToolRounds) {
          return { status: 'completed', error: null, stopReason: 'max_tool_rounds', usage };
        }
        continue;
      }
      if (stopReason === 'refusal') {
        return { status: 'failed', error: { code: 'refusal', message: 'Claude declined to answer this message.' }, stopReason, usage };
      }
      // end_turn, stop_sequence, max_tokens and pause_turn end the answer; so does a stop reason
      // newer than this code, since the answer is there.
      return { status: 'completed', error: null, stopReason, usage };
    }
  }

  /** One model call; every stream event becomes a block change as it arrives. */
  async #stream(
    writer: ReplyWriter,
    request: ReturnType<typeof buildHistory>,
    clientTools: ReadonlySet<string>,
    signal: AbortSignal,
  ): Promise<ApiMessage> {
    // Stream index → position in the reply. Blocks Parley does not keep (server tool blocks) are
    // skipped, so positions stay dense even when the stream's indexes are not.
    const positions = new Map<number, number>();
    // The SDK's timeout covers the wait for response headers only: a stream that stalls after
    // them would hold the prompt (and its conversation's queue) until the socket gives up.
    const idleMs = this.#deps.options.modelIdleTimeoutMs;
    // Aborted by this call itself, with the reason the prompt fails: a stall, or too many blocks.
    const stop = new AbortController();
    let idle = setTimeout(() => stop.abort(new ModelStalled(idleMs)), idleMs);
    const stream = this.#deps.anthropic.messages.stream(request, { signal: AbortSignal.any([signal, stop.signal, writer.failed]) });
    stream.on('streamEvent', (event: RawMessageStreamEvent) => {
      // Pings keep a connection open; they are no sign that the answer moves on.
      if ((event.type as string) !== 'ping') {
        clearTimeout(idle);
        idle = setTimeout(() => stop.abort(new ModelStalled(idleMs)), idleMs);
      }
      switch (event.type) {
        case 'content_block_start': {
          const content = initialContent(event.content_block);
          if (!content) break;
          // Stopping the stream at once saves the tokens of an answer that can no longer be kept.
          if (writer.fits(writer.size)) {
            positions.set(event.index, writer.size);
            writer.start(writer.size, content);
          } else stop.abort(new ReplyTooLong(this.#deps.options.maxBlocksPerMessage));
          break;
        }
        case 'content_block_delta': {
          const delta = event.delta;
          const position = positions.get(event.index);
          if (position === undefined) break;
          if (delta.type === 'text_delta') writer.delta(position, 'text', delta.text);
          else if (delta.type === 'thinking_delta') writer.delta(position, 'thinking', delta.thinking);
          else if (delta.type === 'signature_delta') writer.delta(position, 'signature', delta.signature);
          else if (delta.type === 'input_json_delta') writer.delta(position, 'partial_json', delta.partial_json);
          break;
        }
        case 'content_block_stop': {
          const position = positions.get(event.index);
          if (position === undefined) break;
          const block = writer.stop(position);
          if (block?.type === 'tool_use') {
            const kind = clientTools.has(block.name) ? 'client' : (this.#deps.tools.kindOf(block.name) ?? 'server');
            writer.events([
              { type: 'tool_call_requested', messageId: writer.reply.id, toolUseId: block.id, name: block.name, input: block.input, kind },
            ]);
          }
          break;
        }
        default:
          break;
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
    }
  }

  /** Answers every tool call of the reply that has no result yet: server calls run here, client calls wait for the caller. */
  async #runTools(claim: Claim, writer: ReplyWriter, clientTools: ReadonlySet<string>, signal: AbortSignal): Promise<void> {
    const blocks = writer.storedBlocks;
    const calls = blocks.flatMap((block, position) =>
      block.type === 'tool_use' && !answered(blocks, block.id, position) ? [block] : [],
    );
    if (calls.length === 0) return;
    // Checked before running anything: a tool's effect must not happen for a result that
    // could not be stored.
    if (!writer.fits(writer.size, calls.length)) throw new ReplyTooLong(this.#deps.options.maxBlocksPerMessage);
    const serverCalls = calls.filter((call) => !clientTools.has(call.name));
    const clientCalls = calls.filter((call) => clientTools.has(call.name));
    writer.events(serverCalls.map((call) => ({ type: 'tool_call_started', messageId: writer.reply.id, toolUseId: call.id })));
    await writer.settle();
    const [serverOutcomes, clientOutcomes] = await Promise.all([
      this.#deps.tools.executeAll(
        serverCalls.map((call) => ({ id: call.id, name: call.name, input: call.input })),
        { signal, conversationId: claim.conversationId },
      ),
      this.#deps.clientTools.wait(claim, writer.reply.id, clientCalls, signal),
    ]);
    signal.throwIfAborted();
    const outcomes = new Map([
      ...serverCalls.map((call, i) => [call.id, serverOutcomes[i]!] as const),
      ...clientCalls.map((call, i) => [call.id, clientOutcomes[i]!] as const),
    ]);
    // Results go back in the order of the calls, as the Messages API requires.
    writer.append(
      calls.map((call) => ({ type: 'tool_result', toolUseId: call.id, content: outcomes.get(call.id)!.content, isError: outcomes.get(call.id)!.isError })),
      calls.map((call) => ({
        type: 'tool_call_finished',
        messageId: writer.reply.id,
        toolUseId: call.id,
        content: outcomes.get(call.id)!.content,
        isError: outcomes.get(call.id)!.isError,
        durationMs: Math.round(outcomes.get(call.id)!.durationMs),
      })),
    );
    await writer.settle();
    if (clientCalls.length > 0) await this.#deps.store.applyClientCalls(clientCalls.map((call) => call.id));
  }
}

function failure(stopped: PromptStopped['reason'] | null, error: unknown, usage: Usage): PromptOutcome {
  if (stopped === 'cancelled') {
    return { status: 'cancelled', error: { code: 'cancelled', message: 'The prompt was cancelled.' }, stopReason: null, usage };
  }
  if (error instanceof ReplyTooLong) {
    const message = `Claude's answer reached the limit of ${error.maxBlocks} blocks (text, thinking, tool calls and tool results) one reply may hold, and was stopped there; ask for a shorter answer or fewer tool calls.`;
    return { status: 'failed', error: { code: 'too_many_blocks', message }, stopReason: null, usage };
  }
  return { status: 'failed', error: describeModelFailure(error), stopReason: null, usage };
}

function withReply(messages: MessageRecord[], reply: MessageRecord): MessageRecord[] {
  return [...messages.filter((m) => m.id !== reply.id), reply];
}

function answered(blocks: BlockContent[], toolUseId: string, after: number): boolean {
  return blocks.some((block, i) => i > after && block.type === 'tool_result' && block.toolUseId === toolUseId);
}

function stopReasonOf(signal: AbortSignal, error: unknown): PromptStopped['reason'] | null {
  if (error instanceof PromptStopped) return error.reason;
  if (signal.aborted && signal.reason instanceof PromptStopped) return signal.reason.reason;
  return null;
}

/** A block as it starts streaming. Server-side tool blocks are not part of Parley's model. */
function initialContent(block: RawContentBlockStart): BlockContent | null {
  switch (block.type) {
    case 'text':
      return { type: 'text', text: block.text };
    case 'thinking':
      return { type: 'thinking', thinking: block.thinking, signature: block.signature };
    case 'redacted_thinking':
      return { type: 'redacted_thinking', data: block.data };
    case 'tool_use':
      return { type: 'tool_use', id: block.id, name: block.name, input: {} };
    default:
      return null;
  }
}

type RawContentBlockStart = Extract<RawMessageStreamEvent, { type: 'content_block_start' }>['content_block'];

function emptyUsage(): Usage {
  return { inputTokens: 0, outputTokens: 0, cacheCreationInputTokens: 0, cacheReadInputTokens: 0 };
}

function addUsage(total: Usage, usage: ApiMessage['usage']): void {
  total.inputTokens += usage.input_tokens;
  total.outputTokens += usage.output_tokens;
  total.cacheCreationInputTokens += usage.cache_creation_input_tokens ?? 0;
  total.cacheReadInputTokens += usage.cache_read_input_tokens ?? 0;
}
