/** Thrown by raceAbort when the signal wins; the caller decides what the abort meant. */
class RaceAbortedError extends Error {
  constructor() {
    super('aborted');
    this.name = 'RaceAbortedError';
  }
}

/**
 * Settles with `work`, or rejects with RaceAbortedError as soon as `signal` aborts, so that
 * a callee that ignores its signal cannot hold the caller past a timeout or a cancel.
 */
export async function raceAbort<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  // The loser may reject later; that must not surface as an unhandled rejection.
  work.catch(() => undefined);
  if (signal.aborted) throw new RaceAbortedError();
  const { promise: aborted, reject } = Promise.withResolvers<never>();
  const onAbort = (): void => reject(new RaceAbortedError());
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    return await Promise.race([work, aborted]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}
