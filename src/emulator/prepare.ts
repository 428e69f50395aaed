import { applyContextEdits, type AppliedEdit } from './context-editing.ts';
import { parseContextManagement } from './context-management.ts';
import { checkContextWindow } from './context-window.ts';
import { estimateInputTokens } from './tokens.ts';
import type { MessagesRequest } from './types.ts';
import type { CountTokensRequest } from './validate.ts';

/**
 * From a validated request to what the model is given: context edits first, then the window
 * check on what is left, so a request that fits only once cleared is answered, as by the API.
 */

export interface PreparedMessages {
  /** The request after context editing: what the responder answers. */
  readonly request: MessagesRequest;
  readonly inputTokens: number;
  /** Present when the request asked for context management, even if no edit applied. */
  readonly contextManagement?: { readonly applied_edits: readonly AppliedEdit[] };
}

export function prepareMessages(request: MessagesRequest, betaHeader: string | undefined, contextTokens: number): PreparedMessages {
  const management = parseContextManagement(request, betaHeader);
  if (management === undefined) {
    const inputTokens = estimateInputTokens(request);
    checkContextWindow(inputTokens, request.max_tokens, contextTokens);
    return { request, inputTokens };
  }
  const edited = applyContextEdits(request, management);
  checkContextWindow(edited.inputTokens, request.max_tokens, contextTokens);
  return { request: edited.request, inputTokens: edited.inputTokens, contextManagement: { applied_edits: edited.appliedEdits } };
}

export interface TokenCount {
  readonly input_tokens: number;
  /** As in @anthropic-ai/sdk's `BetaMessageTokensCount`: the count before the edits. */
  readonly context_management?: { readonly original_input_tokens: number };
}

/** `body` is the raw request object: the parsed count_tokens request keeps only the counted fields. */
export function countTokens(body: Record<string, unknown>, request: CountTokensRequest, betaHeader: string | undefined): TokenCount {
  const management = parseContextManagement(body, betaHeader);
  if (management === undefined) return { input_tokens: estimateInputTokens(request) };
  const edited = applyContextEdits(request, management);
  return { input_tokens: edited.inputTokens, context_management: { original_input_tokens: edited.originalInputTokens } };
}
