import { AnthropicError, APIConnectionError, APIError } from '@anthropic-ai/sdk';

/** The model's stream went silent for longer than the idle timeout. */
export class ModelStalled extends Error {
  readonly idleMs: number;
  constructor(idleMs: number) {
    super(`no stream event for ${idleMs} ms`);
    this.name = 'ModelStalled';
    this.idleMs = idleMs;
  }
}

function isNetworkCause(error: Error): boolean {
  return error.message === 'terminated' || error.cause instanceof TypeError || (error.cause instanceof Error && 'code' in error.cause);
}
import type { MessageError } from '../store/records.ts';

/**
 * Turns a model API failure into a reason a user can read. The SDK has already retried what is
 * worth retrying before the first token (429, 529, 5xx, dropped connections, honouring
 * retry-after); what arrives here ends the prompt.
 */
export function describeModelFailure(error: unknown): MessageError {
  if (error instanceof ModelStalled) {
    return {
      code: 'model_stalled',
      message: `The model stopped sending for ${Math.round(error.idleMs / 1000)} seconds in the middle of its answer; retry the message.`,
    };
  }
  // The SDK reports a connection cut mid-body as a bare AnthropicError ("terminated") caused by
  // fetch's TypeError, not as an APIConnectionError.
  if (error instanceof APIConnectionError || (error instanceof AnthropicError && !(error instanceof APIError) && isNetworkCause(error))) {
    return { code: 'model_unreachable', message: 'Parley could not reach the model API, or the connection dropped while it answered.' };
  }
  if (error instanceof APIError) {
    const detail = error.apiMessage ? ` (${error.apiMessage})` : '';
    if (error.type === 'overloaded_error' || error.status === 529) {
      return { code: 'model_overloaded', message: `Claude is overloaded right now; retry the message in a moment${detail}.` };
    }
    if (error.status === 429 || error.type === 'rate_limit_error') {
      return { code: 'rate_limited', message: `The model API is rate limiting requests; retry the message shortly${detail}.` };
    }
    if (error.status === 401 || error.status === 403) {
      return { code: 'model_auth', message: 'Parley could not authenticate with the model API; the operator must check ANTHROPIC_API_KEY.' };
    }
    if (error.status === 400 || error.type === 'invalid_request_error') {
      return { code: 'invalid_request', message: `The model API rejected the request${detail}.` };
    }
    return { code: 'model_error', message: `The model API failed while answering${detail}; retry the message.` };
  }
  return { code: 'internal', message: 'Parley failed while answering this message; retry it, and tell the operator if it keeps failing.' };
}
