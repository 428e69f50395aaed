import type { Owner, UsageGrouping, UsageTotal } from '../domain/records.ts';
import type { Database } from './database.ts';

interface TotalRow {
  day: string;
  model: string;
  conversation_id: string | null;
  subject_id: string | null;
  model_requests: string;
  input_tokens: string;
  output_tokens: string;
  cache_creation_input_tokens: string;
  cache_read_input_tokens: string;
  web_search_requests: string;
}

/** The usage ledger's totals (rows are written with reply writes: ReplyStore.writeBlocks). */
export class UsageStore {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  /** Totals per day and model (and conversation or subject) of model requests that ended in [from, to). */
  async totals(owner: Owner, from: Date, to: Date, grouping: UsageGrouping): Promise<UsageTotal[]> {
    const conversation = grouping === 'conversation' ? 'conversation_id' : 'null::uuid';
    const subject = grouping === 'subject' ? 'subject_id' : 'null::text';
    const rows = await this.#db.query<TotalRow>(
      `select to_char(ended_at at time zone 'UTC', 'YYYY-MM-DD') as day, model,
         ${conversation} as conversation_id, ${subject} as subject_id,
         count(*) as model_requests, sum(input_tokens) as input_tokens, sum(output_tokens) as output_tokens,
         sum(cache_creation_input_tokens) as cache_creation_input_tokens, sum(cache_read_input_tokens) as cache_read_input_tokens,
         sum(web_search_requests) as web_search_requests
       from usage_record
       where tenant_id = $1 and ($2::text is null or subject_id = $2::text) and ended_at >= $3 and ended_at < $4
       group by 1, 2, 3, 4
       order by 1, 2, 3, 4`,
      [owner.tenantId, owner.subjectId, from.toISOString(), to.toISOString()],
    );
    return rows.map((row) => ({
      day: row.day,
      model: row.model,
      conversationId: row.conversation_id,
      subjectId: row.subject_id,
      modelRequests: Number(row.model_requests),
      inputTokens: Number(row.input_tokens),
      outputTokens: Number(row.output_tokens),
      cacheCreationInputTokens: Number(row.cache_creation_input_tokens),
      cacheReadInputTokens: Number(row.cache_read_input_tokens),
      webSearchRequests: Number(row.web_search_requests),
    }));
  }
}
