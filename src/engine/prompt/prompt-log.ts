import type { PromptOutcome } from '../../domain/lifecycle.ts';
import type { Claim } from '../../domain/records.ts';
import type { Logger } from '../../logger.ts';

/** What one attempt at a prompt did, for its end line. */
export interface PromptTimes {
  /** performance.now() when the attempt started. */
  startedAt: number;
  /** performance.now() when the reply's first block change streamed in; null if none did. */
  firstTokenAt: number | null;
}

/**
 * The line of a prompt that ended: at info when it completed or was cancelled, at warn when it
 * failed. The ids are fields of their own too, so the line stands alone in a search.
 */
export function logPromptEnd(logger: Logger, claim: Claim, outcome: PromptOutcome, details: { model: string | null; replyId: string | null; times: PromptTimes }): void {
  const { times } = details;
  const usage = outcome.usage;
  const fields = {
    conversationId: claim.conversationId,
    messageId: claim.messageId,
    replyId: details.replyId,
    attempt: claim.attempt,
    model: details.model,
    status: outcome.status,
    stopReason: outcome.stopReason,
    ...(outcome.error ? { errorCode: outcome.error.code, errorMessage: outcome.error.message } : {}),
    inputTokens: usage?.inputTokens ?? 0,
    outputTokens: usage?.outputTokens ?? 0,
    cacheCreationInputTokens: usage?.cacheCreationInputTokens ?? 0,
    cacheReadInputTokens: usage?.cacheReadInputTokens ?? 0,
    durationMs: Math.round(performance.now() - times.startedAt),
    timeToFirstTokenMs: times.firstTokenAt === null ? null : Math.round(times.firstTokenAt - times.startedAt),
  };
  if (outcome.status === 'failed') logger.warn('prompt failed', fields);
  else logger.info('prompt ended', fields);
}
