import { setTimeout as sleep } from 'node:timers/promises';
import { isDatabaseUnavailable } from '../../store/database-unavailable.ts';

/**
 * Runs `work` until it gets through, for as long as the database is unreachable and at most
 * `forMs`: a prompt's last word (its outcome, or giving it back to the queue) is worth waiting
 * for through a database restart. Any other error, or an outage longer than `forMs`, is thrown;
 * the lease then runs out and recovery finishes the job.
 */
export async function retryWhileDatabaseUnavailable<T>(work: () => Promise<T>, forMs: number): Promise<T> {
  const giveUpAt = Date.now() + forMs;
  for (let delayMs = 50; ; delayMs = Math.min(delayMs * 2, 1_000)) {
    try {
      return await work();
    } catch (error) {
      if (!isDatabaseUnavailable(error) || Date.now() + delayMs > giveUpAt) throw error;
      await sleep(delayMs);
    }
  }
}
