// A block that is still streaming is stored as it started; its text since then is in its
// block_delta events (see BlockEntity.streamedAfter). Every read of blocks completes such blocks
// from the events it can see, so a reader in a consistent snapshot gets exactly what the events
// up to that snapshot say: the same as a subscriber that applied them.
import type { Transaction } from '@mikro-orm/core';
import type { BlockDelta } from './events.ts';
import type { BlockContent } from './records.ts';

export interface StoredBlock {
  messageId: string;
  conversationId: string;
  position: number;
  content: BlockContent;
  /** The seq after which the block's deltas are not in `content`; null when it is whole. */
  streamedAfter: number | null;
}

type Sql = <T>(sql: string, params: unknown[], ctx?: Transaction) => Promise<T[]>;

/** Appends one delta to the block it belongs to; a delta of another kind leaves it as it is. */
export function applyDelta(block: BlockContent, delta: BlockDelta): BlockContent {
  if (delta.kind === 'text' && block.type === 'text') return { ...block, text: block.text + delta.value };
  if (delta.kind === 'thinking' && block.type === 'thinking') return { ...block, thinking: block.thinking + delta.value };
  if (delta.kind === 'signature' && block.type === 'thinking') return { ...block, signature: block.signature + delta.value };
  return block;
}

/** The blocks with every streaming one completed from its deltas (read in `ctx`'s snapshot). */
export async function completeBlocks(sql: Sql, ctx: Transaction | undefined, blocks: StoredBlock[]): Promise<StoredBlock[]> {
  const streaming = blocks.filter((block) => block.streamedAfter !== null);
  if (streaming.length === 0) return blocks;
  const completed = new Map<StoredBlock, BlockContent>();
  for (const conversationId of new Set(streaming.map((block) => block.conversationId))) {
    const mine = streaming.filter((block) => block.conversationId === conversationId);
    const from = Math.min(...mine.map((block) => block.streamedAfter!));
    const rows = await sql<{ seq: string | number; payload: unknown }>(
      `select seq, payload from event
       where conversation_id = ? and seq > ? and payload->>'type' = 'block_delta'
         and payload->>'messageId' in (select value from json_array_elements_text(?::json))
       order by seq`,
      [conversationId, from, JSON.stringify([...new Set(mine.map((block) => block.messageId))])],
      ctx,
    );
    for (const row of rows) {
      const event = (typeof row.payload === 'string' ? JSON.parse(row.payload) : row.payload) as { messageId: string; index: number; delta: BlockDelta };
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
export async function materializeBlocks(sql: Sql, ctx: Transaction, messageIds: string[]): Promise<void> {
  if (messageIds.length === 0) return;
  const rows = await sql<{ message_id: string; conversation_id: string; position: number; content: BlockContent | string; streamed_after: string | number }>(
    `select b.message_id, m.conversation_id, b.position, b.content, b.streamed_after
     from block b join message m on m.id = b.message_id
     where b.message_id in (select value::uuid from json_array_elements_text(?::json)) and b.streamed_after is not null`,
    [JSON.stringify(messageIds)],
    ctx,
  );
  if (rows.length === 0) return;
  const blocks = await completeBlocks(sql, ctx, rows.map(storedBlock));
  await sql(
    `update block set content = b.content, streamed_after = null
     from json_to_recordset(?::json) as b(message_id uuid, position int, content json)
     where block.message_id = b.message_id and block.position = b.position`,
    [JSON.stringify(blocks.map((block) => ({ message_id: block.messageId, position: block.position, content: block.content })))],
    ctx,
  );
}

export function storedBlock(row: {
  message_id: string;
  conversation_id: string;
  position: number;
  content: BlockContent | string;
  streamed_after: string | number | null;
}): StoredBlock {
  return {
    messageId: row.message_id,
    conversationId: row.conversation_id,
    position: row.position,
    content: typeof row.content === 'string' ? (JSON.parse(row.content) as BlockContent) : row.content,
    streamedAfter: row.streamed_after === null ? null : Number(row.streamed_after),
  };
}
