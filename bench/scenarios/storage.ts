/**
 * e. What one prompt costs the database, by reply length: SQL statements Parley ran (counted
 *    through createApp's onQuery), WAL bytes generated, growth of each table, and the event
 *    rows written, for a reply streamed at 80 tokens/s (as a model would) and at full speed.
 */
import { createConversation, SubscriberPool, sendMessage } from '../lib/clients.ts';
import { withTimeout } from '../lib/clock.ts';
import { withParley, type Context, type Parley } from '../lib/context.ts';
import { warmUp } from '../lib/load.ts';
import { tableSizes, walPosition } from '../lib/postgres.ts';
import { specText, WORD_CHARS } from '../lib/reply-spec.ts';
import { watch } from '../lib/watch.ts';

export interface StorageRow {
  replyTokens: number;
  tokensPerSecond: number | 'full speed';
  replyBytes: number;
  statements: Record<string, number>;
  statementsTotal: number;
  walBytes: number;
  tableGrowthBytes: Record<string, number>;
  eventRows: number;
  eventPayloadBytes: number;
  blockDeltaEvents: number;
  /** WAL bytes per byte of reply text. */
  walPerReplyByte: number;
}

export interface StorageResult {
  flushMs: number;
  rows: StorageRow[];
  notes: string[];
}

function diff(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const key of new Set([...Object.keys(after), ...Object.keys(before)])) {
    const d = (after[key] ?? 0) - (before[key] ?? 0);
    if (d !== 0) out[key] = d;
  }
  return out;
}

async function onePrompt(ctx: Context, parley: Parley, pool: SubscriberPool, tokens: number, tps: number): Promise<StorageRow> {
  const conversationId = await createConversation(parley.client);
  const w = watch(pool, conversationId);
  await withTimeout(w.snapshot, 30_000, 'snapshot');
  const statements0 = await parley.child.request<Record<string, number>>('statements');
  const tables0 = await tableSizes(ctx.pg, parley.databaseUrl);
  const wal0 = await walPosition(ctx.pg);
  await sendMessage(parley.client, conversationId, specText({ tokens, tokensPerSecond: tps, stamped: false }));
  const outcome = await withTimeout(w.done, (tps ? (tokens / tps) * 1000 : 0) + 60_000, `reply of ${tokens} tokens`);
  w.stream.cancel();
  if (outcome !== 'finished') throw new Error(`reply of ${tokens} tokens: ${outcome} ${w.stats.error ?? ''}`);
  // The prompt's last write (its end) commits before prompt_finished is published.
  const wal1 = await walPosition(ctx.pg);
  const statements1 = await parley.child.request<Record<string, number>>('statements');
  const tables1 = await tableSizes(ctx.pg, parley.databaseUrl);
  const [events] = await ctx.pg.query<{ rows: string; bytes: string; deltas: string }>(
    `select count(*) as rows, coalesce(sum(octet_length(payload::text)), 0) as bytes,
            count(*) filter (where payload->>'type' = 'block_delta') as deltas
     from event where conversation_id = $1`,
    [conversationId],
    parley.databaseUrl,
  );
  const statements = diff(statements1, statements0);
  const replyBytes = tokens * WORD_CHARS;
  const walBytes = Number(wal1 - wal0);
  return {
    replyTokens: tokens,
    tokensPerSecond: tps || 'full speed',
    replyBytes,
    statements,
    statementsTotal: Object.values(statements).reduce((a, b) => a + b, 0),
    walBytes,
    tableGrowthBytes: diff(tables1, tables0),
    eventRows: Number(events!.rows),
    eventPayloadBytes: Number(events!.bytes),
    blockDeltaEvents: Number(events!.deltas),
    walPerReplyByte: Math.round((walBytes / replyBytes) * 10) / 10,
  };
}

export async function storage(ctx: Context): Promise<StorageResult> {
  const lengths = [10, 100, 1000, 5000];
  const paced = ctx.quick ? [10, 100] : lengths;
  ctx.log(`e. storage per prompt: ${paced.join(', ')} tokens at 80 tokens/s; ${lengths.join(', ')} at full speed`);
  const rows: StorageRow[] = [];
  await withParley(ctx, {}, async (parley) => {
    await warmUp(parley, 5, 50);
    const pool = new SubscriberPool(parley.port);
    try {
      for (const [tps, list] of [[80, paced], [0, lengths]] as const) {
        for (const tokens of list) {
          const row = await onePrompt(ctx, parley, pool, tokens, tps);
          rows.push(row);
          ctx.log(
            `  ${tokens} tokens @ ${row.tokensPerSecond}: ${row.statementsTotal} statements, WAL ${Math.round(row.walBytes / 1024)} KiB ` +
              `(${row.walPerReplyByte} B per reply byte), ${row.eventRows} events (${row.blockDeltaEvents} deltas)`,
          );
        }
      }
    } finally {
      pool.close();
    }
  });
  return {
    flushMs: 50,
    rows,
    notes: [
      'PARLEY_DELTA_FLUSH_MS=50 (the default). Statements are those MikroORM passes to onQuery; BEGIN and COMMIT are not among them.',
      'WAL bytes are cluster-wide over the prompt (nothing else writes meanwhile) with full_page_writes=off (the bench cluster is unsafeFast): production WAL adds full-page images after each checkpoint.',
      'Reply text is a space and four pseudo-random letters per token (5 bytes a token), which compresses about as poorly as prose; a repeated word would let TOAST compression hide the rewrites.',
    ],
  };
}
