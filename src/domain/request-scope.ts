// The work done for one request carries that request's abort signal, without every function
// between the RPC handler and the database taking it as a parameter: once the caller has its
// answer (its deadline passed, or it went away), the database seam cancels the statement that
// is still running for it, instead of letting it run on and perhaps commit.
import { AsyncLocalStorage } from 'node:async_hooks';

const scope = new AsyncLocalStorage<AbortSignal>();

/** Runs `work` as the work of the request whose signal this is. */
export function withinRequest<T>(signal: AbortSignal, work: () => Promise<T>): Promise<T> {
  return scope.run(signal, work);
}

/** The signal of the request the current work is done for, if any (none for background work). */
export function requestSignal(): AbortSignal | undefined {
  return scope.getStore();
}
