import type Anthropic from '@anthropic-ai/sdk';
import type { ContentBlock, Message as ApiMessage, Tool } from '@anthropic-ai/sdk/resources/messages';
import type { Logger } from '../logger.ts';
import type { ConversationStore } from '../store/conversation-store.ts';
import type { Claim, PromptOutcome, PromptStore } from '../store/prompt-store.ts';
import type { BlockContent, MessageRecord, Usage } from '../store/records.ts';
import type { ToolExecutor } from '../tools/tool-executor.ts';
import { PromptStopped } from './conversation-queue.ts';
import { buildHistory, validateRequest } from './history/index.ts';
import { describeModelFailure } from './model-errors.ts';

export interface PromptRunnerOptions {
  /** Model calls that end in tool use, per prompt, before the prompt ends with `max_tool_rounds`. */
  maxToolRounds: number;
}

export interface PromptRunnerDeps {
  store: PromptStore;
  conversations: ConversationStore;
  anthropic: Anthropic;
  tools: ToolExecutor;
  logger: Logger;
  options: PromptRunnerOptions;
}

/** Stop reasons after which the answer is complete as far as the user is concerned. */
const FINAL_STOP_REASONS = new Set(['end_turn', 'stop_sequence', 'max_tokens', 'pause_turn']);

/**
 * Answers one claimed user message: builds the history, streams the model through the SDK,
 * stores each block as it completes (one statement per block, however many tokens it has),
 * runs requested tools and goes round again, then records the outcome. Every write is fenced by
 * the claim; losing the claim stops the prompt without writing.
 */
export class PromptRunner {
  readonly #deps: PromptRunnerDeps;

  constructor(deps: PromptRunnerDeps) {
    this.#deps = deps;
  }

  readonly run = async (claim: Claim, signal: AbortSignal): Promise<void> => {
    const { store, logger } = this.#deps;
    const conversation = await this.#deps.conversations.get(claim.ownerId, claim.conversationId);
    if (!conversation) return; // deleted meanwhile: its messages went with it
    const reply = await store.startReply(claim, conversation.settings.model);
    if (!reply) return;

    const state: ReplyState = { reply, usage: emptyUsage(), stopReason: null, unsaved: [] };
    let outcome: PromptOutcome;
    try {
      outcome = await this.#answer(claim, conversation.settings, state, signal);
    } catch (error) {
      const stopped = stopReasonOf(signal, error);
      if (stopped === 'lease_lost') return; // another instance owns the message now
      // Keep what was streamed before the stop: a partial text block is still worth showing.
      await store.saveBlocks(claim, reply.id, state.unsaved).catch(() => undefined);
      if (stopped === 'cancelled') {
        outcome = { status: 'cancelled', error: { code: 'cancelled', message: 'The prompt was cancelled.' }, stopReason: null, usage: state.usage };
      } else if (stopped === 'shutdown') {
        outcome = {
          status: 'failed',
          error: { code: 'interrupted', message: 'The instance answering this message shut down; retry the message.' },
          stopReason: null,
          usage: state.usage,
        };
      } else {
        if (describeModelFailure(error).code === 'internal') logger.error('prompt failed', { messageId: claim.messageId, error });
        outcome = { status: 'failed', error: describeModelFailure(error), stopReason: state.stopReason, usage: state.usage };
      }
    }
    const written = await store.finish(claim, reply.id, outcome);
    if (!written) logger.warn('prompt ended after its claim was lost; its result was discarded', { messageId: claim.messageId });
  };

  async #answer(
    claim: Claim,
    settings: Parameters<typeof buildHistory>[0]['settings'],
    state: ReplyState,
    signal: AbortSignal,
  ): Promise<PromptOutcome> {
    const { store, tools } = this.#deps;
    const toolDefinitions: Tool[] = tools.definitions(settings.enabledTools.filter((name) => tools.has(name)));
    const earlier = await store.messagesOf(claim);

    for (let round = 0; ; round++) {
      signal.throwIfAborted();
      const request = buildHistory({
        settings,
        messages: withReply(earlier, state.reply),
        currentMessageId: claim.messageId,
        tools: toolDefinitions,
      });
      const problems = validateRequest(request);
      if (problems.length > 0) {
        // A bug in the history builder: never send what the API would reject.
        throw new Error(`history builder produced an invalid request: ${problems.join('; ')}`);
      }

      const final = await this.#stream(claim, state, request, signal);
      addUsage(state.usage, final.usage);
      state.stopReason = final.stop_reason;

      if (final.stop_reason === 'tool_use') {
        if (round + 1 >= this.#deps.options.maxToolRounds) {
          return { status: 'completed', error: null, stopReason: 'max_tool_rounds', usage: state.usage };
        }
        await this.#runTools(claim, state, signal);
        continue;
      }
      if (final.stop_reason === 'refusal') {
        return {
          status: 'failed',
          error: { code: 'refusal', message: 'Claude declined to answer this message.' },
          stopReason: 'refusal',
          usage: state.usage,
        };
      }
      if (final.stop_reason === null || FINAL_STOP_REASONS.has(final.stop_reason)) {
        return { status: 'completed', error: null, stopReason: final.stop_reason, usage: state.usage };
      }
      // A stop reason newer than this code: the answer is there, so keep it.
      return { status: 'completed', error: null, stopReason: final.stop_reason, usage: state.usage };
    }
  }

  /** One model call. Blocks are stored as each one stops; their order is their position. */
  async #stream(
    claim: Claim,
    state: ReplyState,
    request: ReturnType<typeof buildHistory>,
    signal: AbortSignal,
  ): Promise<ApiMessage> {
    const base = state.reply.blocks.length;
    const stream = this.#deps.anthropic.messages.stream(request, { signal });
    // The SDK hands over each block complete, as soon as it stops. Writes are chained so that
    // they land in order while the stream keeps being read.
    let writes: Promise<void> = Promise.resolve();
    let stored = 0;
    stream.on('contentBlock', (block) => {
      const content = toBlockContent(block);
      if (!content) return;
      writes = writes.then(async () => {
        await this.#append(claim, state, [content]);
        stored++;
      });
    });
    try {
      const final = await stream.finalMessage();
      await writes;
      return final;
    } catch (error) {
      await writes.catch(() => undefined);
      // Keep what streamed but never completed (a partial text block, say) for the caller to
      // store with the prompt's end state.
      const partial = stream.currentMessage?.content ?? [];
      state.unsaved = partial.slice(stored).flatMap((block, i) => {
        const content = toBlockContent(block);
        return content ? [{ position: base + stored + i, content }] : [];
      });
      throw error;
    }
  }

  async #runTools(claim: Claim, state: ReplyState, signal: AbortSignal): Promise<void> {
    const calls = state.reply.blocks.flatMap((block, position) =>
      block.type === 'tool_use' && !answered(state.reply.blocks, block.id, position) ? [block] : [],
    );
    const outcomes = await this.#deps.tools.executeAll(
      calls.map((call) => ({ id: call.id, name: call.name, input: call.input })),
      { signal, conversationId: claim.conversationId },
    );
    signal.throwIfAborted();
    await this.#append(
      claim,
      state,
      calls.map((call, i) => ({ type: 'tool_result', toolUseId: call.id, content: outcomes[i]!.content, isError: outcomes[i]!.isError })),
    );
  }

  async #append(claim: Claim, state: ReplyState, blocks: BlockContent[]): Promise<void> {
    const start = state.reply.blocks.length;
    const held = await this.#deps.store.saveBlocks(
      claim,
      state.reply.id,
      blocks.map((content, i) => ({ position: start + i, content })),
    );
    if (!held) throw new PromptStopped('lease_lost');
    state.reply = { ...state.reply, blocks: [...state.reply.blocks, ...blocks] };
  }
}

interface ReplyState {
  reply: MessageRecord;
  usage: Usage;
  stopReason: string | null;
  /** Blocks streamed but not yet stored, collected when a stream ends early. */
  unsaved: Array<{ position: number; content: BlockContent }>;
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

/** SDK content block → stored block. Server-side tool blocks are not part of Parley's model. */
function toBlockContent(block: ContentBlock): BlockContent | null {
  switch (block.type) {
    case 'text':
      return { type: 'text', text: block.text };
    case 'thinking':
      return { type: 'thinking', thinking: block.thinking, signature: block.signature };
    case 'redacted_thinking':
      return { type: 'redacted_thinking', data: block.data };
    case 'tool_use':
      return { type: 'tool_use', id: block.id, name: block.name, input: toObject(block.input) };
    default:
      return null;
  }
}

function toObject(input: unknown): Record<string, unknown> {
  return typeof input === 'object' && input !== null && !Array.isArray(input) ? (input as Record<string, unknown>) : {};
}

function emptyUsage(): Usage {
  return { inputTokens: 0, outputTokens: 0, cacheCreationInputTokens: 0, cacheReadInputTokens: 0 };
}

function addUsage(total: Usage, usage: ApiMessage['usage']): void {
  total.inputTokens += usage.input_tokens;
  total.outputTokens += usage.output_tokens;
  total.cacheCreationInputTokens += usage.cache_creation_input_tokens ?? 0;
  total.cacheReadInputTokens += usage.cache_read_input_tokens ?? 0;
}
