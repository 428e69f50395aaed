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
import { messageErrors } from '../../domain/message-errors.ts';
import type { MessageError } from '../../domain/records.ts';

/**
 * Turns a model API failure into a reason a user can read. The SDK has already retried what is
 * worth retrying before the first token (429, 529, 5xx, dropped connections, honouring
 * retry-after); what arrives here ends the prompt.
 */
export function describeModelFailure(error: unknown): MessageError {
  if (error instanceof ModelStalled) return messageErrors.modelStalled(error.idleMs);
  // The SDK reports a connection cut mid-body as a bare AnthropicError ("terminated") caused by
  // fetch's TypeError, not as an APIConnectionError.
  if (error instanceof APIConnectionError || (error instanceof AnthropicError && !(error instanceof APIError) && isNetworkCause(error))) {
    return messageErrors.modelUnreachable();
  }
  if (error instanceof APIError) {
    const detail = error.apiMessage ? ` (${error.apiMessage})` : '';
    if (error.type === 'overloaded_error' || error.status === 529) return messageErrors.modelOverloaded(detail);
    if (error.status === 429 || error.type === 'rate_limit_error') return messageErrors.rateLimited(detail);
    if (error.status === 401 || error.status === 403) return messageErrors.modelAuth();
    // The API's answer to a model it does not serve (retired, or never was): 404 not_found_error, "model: …".
    if (error.status === 404 && (error.type === 'not_found_error' || error.apiMessage?.startsWith('model:'))) return messageErrors.modelUnavailable(detail);
    if (error.status === 400 || error.type === 'invalid_request_error') return messageErrors.invalidRequest(detail);
    return messageErrors.modelError(detail);
  }
  return messageErrors.internal();
}
