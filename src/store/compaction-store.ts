import { uuidv7 } from '../domain/ids.ts';
import type { ConversationEvent } from '../domain/events.ts';
import type { Claim, ModelRequestUsage } from '../domain/records.ts';
import type { Database } from './database.ts';
import { appendEvents } from './event-log.ts';
import { holds } from './reply-store.ts';

/** A conversation's latest compaction: the summary and the user message it reaches. */
export interface StoredCompaction {
  throughMessageId: string;
  summary: string;
}

export interface NewCompaction extends StoredCompaction {
  replyId: string;
  model: string;
  tokensBefore: number;
  tokensAfter: number;
  /** The summarizing request, for the usage ledger. */
  usage: ModelRequestUsage;
}

/** Compactions of conversations' histories (context management); one statement per operation. */
export class CompactionStore {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  async latest(conversationId: string): Promise<StoredCompaction | null> {
    const [row] = await this.#db.query<{ through_message_id: string; summary: string }>(
      'select through_message_id, summary from compaction where conversation_id = $1 order by created_at desc, id desc limit 1',
      [conversationId],
    );
    return row ? { throughMessageId: row.through_message_id, summary: row.summary } : null;
  }

  /**
   * Stores a compaction with its event and its model request's usage, fenced by the claim like
   * every write of a prompt. Returns false (nothing written) when the claim no longer holds.
   */
  async save(claim: Claim, compaction: NewCompaction, event: ConversationEvent): Promise<boolean> {
    return this.#db.transaction(async (tx) => {
      if (!(await holds(tx, claim))) return false;
      await tx.query(
        `insert into compaction (id, conversation_id, through_message_id, reply_id, summary, model, tokens_before, tokens_after, created_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, clock_timestamp())`,
        [uuidv7(), claim.conversationId, compaction.throughMessageId, compaction.replyId, compaction.summary, compaction.model, compaction.tokensBefore, compaction.tokensAfter],
      );
      const u = compaction.usage;
      await tx.query(
        `insert into usage_record (id, tenant_id, subject_id, conversation_id, message_id, reply_id, attempt, round, purpose, model,
           input_tokens, output_tokens, cache_creation_input_tokens, cache_read_input_tokens, web_search_requests, stop_reason, started_at, ended_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, 'compaction', $9, $10, $11, $12, $13, 0, $14, $15, $16)`,
        [uuidv7(), u.tenantId, u.subjectId, u.conversationId, u.messageId, u.replyId, u.attempt, u.round, u.model,
          u.usage.inputTokens, u.usage.outputTokens, u.usage.cacheCreationInputTokens, u.usage.cacheReadInputTokens, u.stopReason, u.startedAt, u.endedAt],
      );
      await appendEvents(tx, claim.conversationId, [event]);
      return true;
    });
  }
}
