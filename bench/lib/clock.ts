/**
 * Wall-clock milliseconds with sub-millisecond precision, comparable across the processes of
 * one machine (each derives it from its own start time plus a monotonic clock).
 */
export function now(): number {
  return performance.timeOrigin + performance.now();
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Rejects after `ms` with a message saying what did not happen in time. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * The zero of the stamps the emulator writes into token text: stamps are milliseconds since this
 * moment (one decimal), which keeps a stamped token near 10 characters. The orchestrator sets it
 * once; every child process inherits it.
 */
export function stampEpoch(): number {
  const value = Number(process.env.BENCH_EPOCH);
  if (!Number.isFinite(value) || value <= 0) throw new Error('BENCH_EPOCH is not set (bench/run.ts sets it)');
  return value;
}
