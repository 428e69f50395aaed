import type { Database } from './database.ts';

/**
 * Deletes events older than the retention horizon, oldest first, a batch at a time. Rows another
 * instance is deleting are skipped, so every instance can run it at once without waiting on the
 * others. A subscriber that resumes from before the oldest kept event gets a fresh snapshot
 * (SnapshotStore.resumePoint), so nothing a client needs is lost, only the replay.
 */
export class EventPruning {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  /** One batch: how many events were deleted (fewer than `batch`: nothing older is left). */
  async prune(horizonMs: number, batch: number): Promise<number> {
    const rows = await this.#db.query<{ n: string }>(
      `with old as (
         select conversation_id, seq from event
         where created_at < now() - ($1 * interval '1 millisecond')
         order by created_at limit $2
         for update skip locked)
       , gone as (delete from event e using old where e.conversation_id = old.conversation_id and e.seq = old.seq returning 1)
       select count(*) as n from gone`,
      [horizonMs, batch],
    );
    return Number(rows[0]?.n ?? 0);
  }
}
