// Every reason a message can end failed or cancelled with: the `code` a program switches on and
// the sentence a user reads. Stores and the engine take them from here, never write their own.
import type { MessageError } from './records.ts';

export const messageErrors = {
  cancelled: (): MessageError => ({ code: 'cancelled', message: 'The prompt was cancelled.' }),
  interrupted: (): MessageError => ({
    code: 'interrupted',
    message: 'The instance answering this message shut down; the message was queued again.',
  }),
  leaseExpired: (): MessageError => ({
    code: 'lease_expired',
    message: 'The instance answering this message stopped responding before it finished.',
  }),
  attemptsExhausted: (maxAttempts: number): MessageError => ({
    code: 'attempts_exhausted',
    message: `The message could not be answered after ${maxAttempts} attempts because the instances answering it stopped.`,
  }),
  refusal: (details: { category: string | null; explanation: string | null } | null = null): MessageError => ({
    code: 'refusal',
    message: `Claude declined to answer this message${details?.category ? ` (${details.category})` : ''}${details?.explanation ? `: ${details.explanation}` : '.'}`,
    ...(details ? { refusal: details } : {}),
  }),
  modelUnavailable: (detail: string): MessageError => ({
    code: 'model_unavailable',
    message: `The model API does not serve this conversation's model${detail}. Choose another model with UpdateConversation (settings.model); the conversation's history is kept.`,
  }),
  tooManyBlocks: (maxBlocks: number): MessageError => ({
    code: 'too_many_blocks',
    message: `Claude's answer reached the limit of ${maxBlocks} blocks (text, thinking, tool calls and tool results) one reply may hold, and was stopped there; ask for a shorter answer or fewer tool calls.`,
  }),
  modelStalled: (idleMs: number): MessageError => ({
    code: 'model_stalled',
    message: `The model stopped sending for ${duration(idleMs)} while it answered; retry the message.`,
  }),
  modelUnreachable: (): MessageError => ({
    code: 'model_unreachable',
    message: 'Parley could not reach the model API, or the connection dropped while it answered.',
  }),
  modelOverloaded: (detail: string): MessageError => ({
    code: 'model_overloaded',
    message: `Claude is overloaded right now; retry the message in a moment${detail}.`,
  }),
  rateLimited: (detail: string): MessageError => ({
    code: 'rate_limited',
    message: `The model API is rate limiting requests; retry the message shortly${detail}.`,
  }),
  modelAuth: (): MessageError => ({
    code: 'model_auth',
    message: 'Parley could not authenticate with the model API; the operator must check ANTHROPIC_API_KEY.',
  }),
  invalidRequest: (detail: string): MessageError => ({ code: 'invalid_request', message: `The model API rejected the request${detail}.` }),
  modelError: (detail: string): MessageError => ({
    code: 'model_error',
    message: `The model API failed while answering${detail}; retry the message.`,
  }),
  contextTooLong: (tokens: number, limit: number): MessageError => ({
    code: 'context_too_long',
    message:
      `The message and what it needs of the conversation hold about ${tokens} tokens, more than the ${limit} the model's context window has room for ` +
      '(its window less max_tokens). Send a shorter message, lower max_tokens, or start a new conversation.',
  }),
  /** `reason`: which budget, and when it renews (describeRefusal). */
  budgetExhausted: (reason: string): MessageError => ({ code: 'budget_exhausted', message: `The message was not answered: ${reason}.` }),
  internal: (): MessageError => ({
    code: 'internal',
    message: 'Parley failed while answering this message; retry it, and tell the operator if it keeps failing.',
  }),
  /** A prompt that ended failed or cancelled without a reason of its own (it should not happen). */
  ended: (status: string): MessageError => ({ code: status, message: `The prompt was ${status}.` }),
} as const;

/** What the model reads as the result of a client tool call that got no answer. */
export const clientToolResults = {
  lost: (): string => 'The client tool call was lost.',
  timedOut: (ms: number): string => `The client did not answer this tool call within ${duration(ms)}.`,
} as const;

/** Whole seconds, or milliseconds below two seconds (a bound of 400 ms is not "0 seconds"). */
function duration(ms: number): string {
  return ms < 2_000 ? `${Math.round(ms)} ms` : `${Math.round(ms / 1000)} seconds`;
}
