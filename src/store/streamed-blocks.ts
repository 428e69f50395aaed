// A block that is still streaming is stored as it started; its text since then is in its
// block_delta events (see BlockEntity.streamedAfter). Every read of blocks completes such blocks
// from the events it can see, so a reader in a consistent snapshot gets exactly what the events
// up to that snapshot say: the same as a subscriber that applied them.
import { applyDelta } from '../domain/apply-delta.ts';
import type { BlockDelta } from '../domain/events.ts';
import type { BlockContent } from '../domain/records.ts';
import type { Sql } from './database.ts';

interface StoredBlock {
  messageId: string;
  conversationId: string;
  position: number;
  content: BlockContent;
  /** The seq after which the block's deltas are not in `content`; null when it is whole. */
  streamedAfter: number | null;
}

interface BlockRow {
  message_id: string;
  conversation_id: string;
  position: number;
  content: BlockContent | string;
  streamed_after: string | number | null;
}

const SELECT_BLOCKS = `select b.message_id, m.conversation_id, b.position, b.content, b.streamed_after
  from block b join message m on m.id = b.message_id`;

/** The blocks of these messages, streaming ones completed, by message id and in position order. */
export async function readBlocks(sql: Sql, messageIds: string[]): Promise<Map<string, BlockContent[]>> {
  const byMessage = new Map<string, BlockContent[]>();
  if (messageIds.length === 0) return byMessage;
  const rows = await sql.query<BlockRow>(`${SELECT_BLOCKS} where b.message_id = any($1::uuid[]) order by b.message_id, b.position`, [messageIds]);
  for (const block of await completeBlocks(sql, rows.map(storedBlock))) {
    const list = byMessage.get(block.messageId) ?? [];
    list[block.position] = block.content;
    byMessage.set(block.messageId, list);
  }
  return byMessage;
}

/** The blocks with every streaming one completed from its deltas (read in `sql`'s snapshot). */
async function completeBlocks(sql: Sql, blocks: StoredBlock[]): Promise<StoredBlock[]> {
  const streaming = blocks.filter((block) => block.streamedAfter !== null);
  if (streaming.length === 0) return blocks;
  const completed = new Map<StoredBlock, BlockContent>();
  for (const conversationId of new Set(streaming.map((block) => block.conversationId))) {
    const mine = streaming.filter((block) => block.conversationId === conversationId);
    const from = Math.min(...mine.map((block) => block.streamedAfter!));
    const rows = await sql.query<{ seq: string; payload: { messageId: string; index: number; delta: BlockDelta } }>(
      `select seq, payload from event
       where conversation_id = $1 and seq > $2 and payload->>'type' = 'block_delta'
         and payload->>'messageId' = any($3::text[])
       order by seq`,
      [conversationId, from, [...new Set(mine.map((block) => block.messageId))]],
    );
    for (const row of rows) {
      const event = typeof row.payload === 'string' ? (JSON.parse(row.payload) as typeof row.payload) : row.payload;
      const block = mine.find((b) => b.messageId === event.messageId && b.position === event.index);
      if (!block || Number(row.seq) <= block.streamedAfter!) continue;
      completed.set(block, applyDelta(completed.get(block) ?? block.content, event.delta));
    }
  }
  return blocks.map((block) => (completed.has(block) ? { ...block, content: completed.get(block)! } : block));
}

/**
 * Writes the streaming blocks of these messages whole (their attempt ended without stopping
 * them: an instance died or gave the prompt back), so that later reads need no events.
 */
export async function materializeBlocks(tx: Sql, messageIds: string[]): Promise<void> {
  if (messageIds.length === 0) return;
  const rows = await tx.query<BlockRow>(`${SELECT_BLOCKS} where b.message_id = any($1::uuid[]) and b.streamed_after is not null`, [messageIds]);
  if (rows.length === 0) return;
  const blocks = await completeBlocks(tx, rows.map(storedBlock));
  await tx.query(
    `update block set content = b.content, streamed_after = null
     from json_to_recordset($1::json) as b(message_id uuid, position int, content json)
     where block.message_id = b.message_id and block.position = b.position`,
    [JSON.stringify(blocks.map((block) => ({ message_id: block.messageId, position: block.position, content: block.content })))],
  );
}

function storedBlock(row: BlockRow): StoredBlock {
  return {
    messageId: row.message_id,
    conversationId: row.conversation_id,
    position: row.position,
    content: typeof row.content === 'string' ? (JSON.parse(row.content) as BlockContent) : row.content,
    streamedAfter: row.streamed_after === null ? null : Number(row.streamed_after),
  };
}
