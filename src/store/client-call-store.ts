import type { ConversationEvent } from '../domain/events.ts';
import type { Claim, ClientCallState, Owner } from '../domain/records.ts';
import { TOOL_RESULT_CHANNEL } from './channels.ts';
import { OWNED_BY } from './conversation-store.ts';
import type { Database, Sql } from './database.ts';
import { appendEvents, notify } from './event-log.ts';
import { holds } from './reply-store.ts';

export type SubmitResult = { kind: 'ok' } | { kind: 'not_found' } | { kind: 'already'; status: 'answered' | 'timed_out' };

interface CallRow {
  tool_use_id: string;
  status: ClientCallState['status'];
  deadline: Date;
  content: string | null;
  is_error: boolean;
  created_at: Date;
  answered_at: Date | null;
}

/**
 * Client tool calls: the calling service answers them over SubmitToolResult, on any instance.
 * The wait is these rows, so a later attempt of the prompt picks up the same calls and deadlines.
 */
export class ClientCallStore {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  /**
   * Opens client tool calls (a row each; calls already open keep theirs) and announces the new
   * ones. Returns the state of every call, or null when the claim was lost.
   */
  async open(claim: Claim, replyId: string, calls: Array<{ id: string; name: string; input: Record<string, unknown>; traceparent?: string | null }>, timeoutMs: number): Promise<ClientCallState[] | null> {
    return this.#db.transaction(async (tx) => {
      if (!(await holds(tx, claim))) return null;
      const opened = await tx.query<{ tool_use_id: string; deadline: Date }>(
        `insert into client_tool_call (tool_use_id, conversation_id, message_id, name, status, deadline, created_at)
         select c.id, $1, $2, c.name, 'awaiting', now() + ($3 * interval '1 millisecond'), now()
         from json_to_recordset($4::json) as c(id text, name text)
         on conflict (tool_use_id) do nothing
         returning tool_use_id, deadline`,
        [claim.conversationId, replyId, timeoutMs, JSON.stringify(calls.map(({ id, name }) => ({ id, name })))],
      );
      const events: ConversationEvent[] = opened.map((row) => {
        const call = calls.find((c) => c.id === row.tool_use_id)!;
        return {
          type: 'tool_call_awaiting_client',
          messageId: replyId,
          toolUseId: call.id,
          name: call.name,
          input: call.input,
          deadline: new Date(row.deadline).toISOString(),
          ...(call.traceparent ? { traceparent: call.traceparent } : {}),
        };
      });
      await appendEvents(tx, claim.conversationId, events);
      return states(tx, calls.map((c) => c.id));
    });
  }

  /** The state of these calls; awaiting ones past their deadline are timed out first. */
  async states(toolUseIds: string[]): Promise<ClientCallState[]> {
    await this.#db.query(
      `update client_tool_call set status = 'timed_out', answered_at = now()
       where status = 'awaiting' and deadline <= now() and tool_use_id = any($1::text[])`,
      [toolUseIds],
    );
    return states(this.#db, toolUseIds);
  }

  /** Records that these results are in the reply now (a later attempt need not wait for them). */
  async markApplied(toolUseIds: string[]): Promise<void> {
    await this.#db.query('update client_tool_call set applied = true where tool_use_id = any($1::text[])', [toolUseIds]);
  }

  /** The caller's answer to a client tool call; wakes whichever instance runs the prompt. */
  async submit(owner: Owner, conversationId: string, toolUseId: string, result: { content: string; isError: boolean }): Promise<SubmitResult> {
    return this.#db.transaction(async (tx) => {
      const [call] = await tx.query<{ status: 'awaiting' | 'answered' | 'timed_out'; expired: boolean }>(
        `select t.status, t.deadline <= now() as expired from client_tool_call t join conversation c on c.id = t.conversation_id
         where t.tool_use_id = $1 and t.conversation_id = $2 and ${OWNED_BY('$3', '$4', 'c')} for update of t`,
        [toolUseId, conversationId, owner.tenantId, owner.subjectId],
      );
      if (!call) return { kind: 'not_found' };
      if (call.status !== 'awaiting') return { kind: 'already', status: call.status };
      if (call.expired) {
        await tx.query(`update client_tool_call set status = 'timed_out', answered_at = now() where tool_use_id = $1`, [toolUseId]);
        return { kind: 'already', status: 'timed_out' };
      }
      await tx.query(`update client_tool_call set status = 'answered', content = $1, is_error = $2, answered_at = now() where tool_use_id = $3`, [
        result.content,
        result.isError,
        toolUseId,
      ]);
      await notify(tx, TOOL_RESULT_CHANNEL, toolUseId);
      return { kind: 'ok' };
    });
  }
}

async function states(sql: Sql, toolUseIds: string[]): Promise<ClientCallState[]> {
  const rows = await sql.query<CallRow>(
    `select tool_use_id, status, deadline, content, is_error, created_at, answered_at from client_tool_call where tool_use_id = any($1::text[])`,
    [toolUseIds],
  );
  return rows.map((row) => ({
    toolUseId: row.tool_use_id,
    status: row.status,
    deadline: new Date(row.deadline),
    content: row.content,
    isError: row.is_error,
    createdAt: new Date(row.created_at),
    answeredAt: row.answered_at ? new Date(row.answered_at) : null,
  }));
}
