import type { ApiErrorType, HttpErrorTurn, RefusalDetails, ReplyBlock, ReplyTurn } from './types.ts';

/** Shorthands for the turns tests script most; the plain objects work just as well. */

type ReplyOptions = Omit<ReplyTurn, 'blocks'>;

export function textTurn(text: string, options: ReplyOptions = {}): ReplyTurn {
  return { ...options, blocks: [{ type: 'text', text }] };
}

export function toolUseTurn(
  name: string,
  input: unknown,
  options: ReplyOptions & { readonly id?: string; readonly preamble?: string } = {},
): ReplyTurn {
  const { id, preamble, ...rest } = options;
  const blocks: ReplyBlock[] = [];
  if (preamble !== undefined) blocks.push({ type: 'text', text: preamble });
  blocks.push(id === undefined ? { type: 'tool_use', name, input } : { type: 'tool_use', name, input, id });
  return { ...rest, blocks };
}

/**
 * A reply the API's classifiers stop: whatever text came before (none by default), then
 * `stop_reason: 'refusal'` with `stop_details: {type: 'refusal', category, explanation}`.
 */
export function refusalTurn(details: Partial<RefusalDetails> = {}, options: ReplyOptions & { readonly text?: string } = {}): ReplyTurn {
  const { text, ...rest } = options;
  return {
    ...rest,
    blocks: text === undefined ? [] : [{ type: 'text', text }],
    stopReason: 'refusal',
    refusal: { category: details.category ?? null, explanation: details.explanation ?? null },
  };
}

/**
 * A turn the API pauses (`stop_reason: 'pause_turn'`), typically in the middle of its own server
 * tool loop. The client sends the content back as the final assistant message and the next turn
 * goes on from it.
 */
export function pausedTurn(content: string | readonly ReplyBlock[], options: ReplyOptions = {}): ReplyTurn {
  const blocks: readonly ReplyBlock[] = typeof content === 'string' ? [{ type: 'text', text: content }] : content;
  return { ...options, blocks, stopReason: 'pause_turn' };
}

export function rateLimited(options: { readonly retryAfterSeconds?: number; readonly retryAfterMs?: number } = {}): HttpErrorTurn {
  return {
    httpError: {
      status: 429,
      type: 'rate_limit_error',
      retryAfterSeconds: options.retryAfterSeconds ?? 1,
      ...(options.retryAfterMs !== undefined ? { retryAfterMs: options.retryAfterMs } : {}),
    },
  };
}

export function overloaded(message?: string): HttpErrorTurn {
  return { httpError: { status: 529, type: 'overloaded_error', ...(message !== undefined ? { message } : {}) } };
}

export function serverError(message?: string): HttpErrorTurn {
  return { httpError: { status: 500, type: 'api_error', ...(message !== undefined ? { message } : {}) } };
}

/** HTTP 200, `afterTokens` tokens of `reply`, then `event: error`. */
export function errorEventAfter(
  afterTokens: number,
  reply: ReplyTurn,
  errorType: ApiErrorType = 'overloaded_error',
  message?: string,
): ReplyTurn {
  return {
    ...reply,
    interrupt: { kind: 'error_event', afterTokens, errorType, ...(message !== undefined ? { message } : {}) },
  };
}

export function dropAfter(afterTokens: number, reply: ReplyTurn): ReplyTurn {
  return { ...reply, interrupt: { kind: 'drop', afterTokens } };
}

export function stallAfter(afterTokens: number, reply: ReplyTurn): ReplyTurn {
  return { ...reply, interrupt: { kind: 'stall', afterTokens } };
}
