/**
 * Why a running prompt was stopped from outside: the caller cancelled it, its lease was taken
 * over by another instance, or this instance is shutting down. Not the model's stop reason.
 */
export type StopCause = 'cancelled' | 'lease_lost' | 'shutdown';

/** The abort reason of a running prompt's signal, and what a write that lost its claim throws. */
export class PromptStopped extends Error {
  readonly stopCause: StopCause;
  constructor(cause: StopCause) {
    super(`prompt stopped: ${cause}`);
    this.name = 'PromptStopped';
    this.stopCause = cause;
  }
}

/** The cause, when the prompt was stopped (by `error` itself or by its signal); else null. */
export function stopCauseOf(signal: AbortSignal, error: unknown): StopCause | null {
  if (error instanceof PromptStopped) return error.stopCause;
  if (signal.aborted && signal.reason instanceof PromptStopped) return signal.reason.stopCause;
  return null;
}
