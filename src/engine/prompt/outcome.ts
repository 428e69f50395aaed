import type { Message as ApiMessage } from '@anthropic-ai/sdk/resources/messages';
import type { PromptOutcome } from '../../domain/lifecycle.ts';
import { messageErrors } from '../../domain/message-errors.ts';
import type { Usage } from '../../domain/records.ts';
import { BudgetExhausted } from './budget-gate.ts';
import { describeModelFailure } from './model-errors.ts';
import type { StopCause } from './prompt-stopped.ts';
import { ReplyTooLong } from './reply-writer.ts';
import { ContextTooLong, promptTooLong } from '../context/context-errors.ts';

/**
 * What a model call's stop reason means for the prompt: null to go round again (the model asked
 * for tools and rounds are left), else how the prompt ends.
 */
export function outcomeOfStop(stopReason: ApiMessage['stop_reason'], lastRound: boolean, usage: Usage, stopDetails: ApiMessage['stop_details'] = null): PromptOutcome | null {
  if (stopReason === 'tool_use') return lastRound ? { status: 'completed', error: null, stopReason: 'max_tool_rounds', usage } : null;
  // The API paused a long turn: the next request continues it, within the rounds left.
  if (stopReason === 'pause_turn') return lastRound ? { status: 'completed', error: null, stopReason, usage } : null;
  if (stopReason === 'refusal') {
    const details = stopDetails?.type === 'refusal' ? { category: stopDetails.category, explanation: stopDetails.explanation } : null;
    return { status: 'failed', error: messageErrors.refusal(details), stopReason, usage };
  }
  // end_turn, stop_sequence and max_tokens end the answer; so does a stop reason
  // newer than this code, since the answer is there.
  return { status: 'completed', error: null, stopReason, usage };
}

/** How a prompt ends that threw `error`, or was stopped (`cause`) by a cancel. */
export function outcomeOfFailure(cause: StopCause | null, error: unknown, usage: Usage): PromptOutcome {
  if (cause === 'cancelled') return { status: 'cancelled', error: messageErrors.cancelled(), stopReason: null, usage };
  if (error instanceof BudgetExhausted) return { status: 'failed', error: messageErrors.budgetExhausted(error.message), stopReason: null, usage };
  if (error instanceof ReplyTooLong) return { status: 'failed', error: messageErrors.tooManyBlocks(error.maxBlocks), stopReason: null, usage };
  if (error instanceof ContextTooLong) return { status: 'failed', error: messageErrors.contextTooLong(error.tokens, error.limit), stopReason: null, usage };
  const refused = promptTooLong(error);
  if (refused !== null) return { status: 'failed', error: messageErrors.contextTooLong(refused.tokens, refused.limit), stopReason: null, usage };
  return { status: 'failed', error: describeModelFailure(error), stopReason: null, usage };
}

export function emptyUsage(): Usage {
  return { inputTokens: 0, outputTokens: 0, cacheCreationInputTokens: 0, cacheReadInputTokens: 0 };
}

export function sumUsage(a: Usage, b: Usage): Usage {
  return {
    inputTokens: a.inputTokens + b.inputTokens,
    outputTokens: a.outputTokens + b.outputTokens,
    cacheCreationInputTokens: a.cacheCreationInputTokens + b.cacheCreationInputTokens,
    cacheReadInputTokens: a.cacheReadInputTokens + b.cacheReadInputTokens,
  };
}

export function addUsage(total: Usage, usage: ApiMessage['usage']): Usage {
  return {
    inputTokens: total.inputTokens + usage.input_tokens,
    outputTokens: total.outputTokens + usage.output_tokens,
    cacheCreationInputTokens: total.cacheCreationInputTokens + (usage.cache_creation_input_tokens ?? 0),
    cacheReadInputTokens: total.cacheReadInputTokens + (usage.cache_read_input_tokens ?? 0),
  };
}
