// A fingerprint of everything stored, per conversation, read with a separate `pg` client: the
// fuzzer's proof that rejected calls wrote nothing.
import pg from 'pg';

export const TABLES = ['conversation', 'message', 'block', 'event', 'client_tool_call'] as const;
export type Counts = Record<(typeof TABLES)[number], number>;

/** conversation id → digest of its row and of every row that belongs to it. */
export type Fingerprint = Map<string, string>;

// Lease renewals (message.lease_expires_at) are bookkeeping of a running prompt, not a write a
// request made: they are left out.
const FINGERPRINT_SQL = `
select c.id,
  concat_ws('|',
    md5(row(c.owner_id, c.title, c.settings::text, c.created_at, c.updated_at, c.last_seq)::text),
    (select count(*) || ':' || md5(coalesce(string_agg(row(m.id, m.role, m.status, m.error::text, m.reply_to, m.stop_reason, m.queue_position,
        m.request_id, m.updated_at, m.started_at, m.ended_at, m.attempt, m.cancel_requested)::text, ',' order by m.id), ''))
       from message m where m.conversation_id = c.id),
    (select count(*) || ':' || md5(coalesce(string_agg(row(b.message_id, b.position, b.content::text)::text, ',' order by b.message_id, b.position), ''))
       from block b join message m on m.id = b.message_id where m.conversation_id = c.id),
    (select count(*) || ':' || coalesce(max(e.seq), 0) from event e where e.conversation_id = c.id),
    (select count(*) || ':' || md5(coalesce(string_agg(row(t.tool_use_id, t.status, t.content, t.is_error, t.applied, t.answered_at)::text, ',' order by t.tool_use_id), ''))
       from client_tool_call t where t.conversation_id = c.id)
  ) as digest
from conversation c`;

export class DatabaseWatch {
  readonly #client: pg.Client;
  private constructor(client: pg.Client) {
    this.#client = client;
  }

  static async open(databaseUrl: string): Promise<DatabaseWatch> {
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    return new DatabaseWatch(client);
  }

  async fingerprint(): Promise<Fingerprint> {
    const { rows } = await this.#client.query<{ id: string; digest: string }>(FINGERPRINT_SQL);
    return new Map(rows.map((r) => [r.id, r.digest]));
  }

  async counts(): Promise<Counts> {
    const { rows } = await this.#client.query<Record<string, string>>(`select ${TABLES.map((t) => `(select count(*) from ${t}) as ${t}`).join(', ')}`);
    return Object.fromEntries(TABLES.map((t) => [t, Number(rows[0]![t])])) as Counts;
  }

  async query<T extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<T[]> {
    return (await this.#client.query<T>(sql, params)).rows;
  }

  close(): Promise<void> {
    return this.#client.end();
  }
}

/** Differences between two fingerprints that no accepted call explains. */
export function unexplainedChanges(before: Fingerprint, after: Fingerprint, touched: ReadonlySet<string>): string[] {
  const changes: string[] = [];
  for (const [id, digest] of after) {
    if (touched.has(id)) continue;
    const was = before.get(id);
    if (was === undefined) changes.push(`conversation ${id} appeared, but no accepted call created it`);
    else if (was !== digest) changes.push(`conversation ${id} changed (${was} → ${digest}), but no accepted call touched it`);
  }
  for (const id of before.keys()) {
    if (!touched.has(id) && !after.has(id)) changes.push(`conversation ${id} disappeared, but no accepted call deleted it`);
  }
  return changes;
}
