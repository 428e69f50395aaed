/**
 * Lengthens a conversation by copying the rows its real exchanges left (message and block,
 * byte for byte, with new ids after the existing ones and replies pointing at their copied user
 * message), for a smoke run that cannot wait for hundreds of prompts. Prompts answer one at a
 * time per conversation and each reads the whole history, so growing through the API takes
 * time quadratic in the length. Copies carry no events and no usage records: the history
 * builder and the snapshot read see only messages and blocks.
 */
import pg from 'pg';
import { uuidv7 } from '../../src/domain/ids.ts';

const COLUMNS = `conversation_id, role, status, error, stop_reason, model, usage, queue_position, created_at, updated_at, started_at, ended_at, attempt, instance_id, trace_context, cancel_requested`;

/** Appends `copies` copies of the conversation's messages as they are now; returns the messages it then has. */
export async function copyExchanges(databaseUrl: string, conversationId: string, copies: number): Promise<number> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query('begin');
    const { rows } = await client.query<{ id: string }>('select id from message where conversation_id = $1 order by id', [conversationId]);
    const seed = rows.map((row) => row.id);
    for (let copy = 0; copy < copies; copy++) {
      const fresh = seed.map(() => uuidv7());
      // request_id stays null: it is unique per conversation, and only a retried send reads it.
      await client.query(
        `with map as (select * from unnest($1::uuid[], $2::uuid[]) as m(old_id, new_id))
         insert into message (id, reply_to, request_id, ${COLUMNS})
         select map.new_id, reply.new_id, null, ${COLUMNS.split(', ').map((c) => `m.${c}`).join(', ')}
         from message m join map on map.old_id = m.id left join map reply on reply.old_id = m.reply_to`,
        [seed, fresh],
      );
      await client.query(
        `with map as (select * from unnest($1::uuid[], $2::uuid[]) as m(old_id, new_id))
         insert into block (message_id, position, content, streamed_after)
         select map.new_id, b.position, b.content, b.streamed_after from block b join map on map.old_id = b.message_id`,
        [seed, fresh],
      );
    }
    await client.query('commit');
    const [count] = (await client.query<{ n: string }>('select count(*) as n from message where conversation_id = $1', [conversationId])).rows;
    return Number(count?.n ?? 0);
  } catch (error) {
    await client.query('rollback').catch(() => undefined);
    throw error;
  } finally {
    await client.end();
  }
}
