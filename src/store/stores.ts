import type pg from 'pg';
import { ApiKeyStore } from './api-key-store.ts';
import { CompactionStore } from './compaction-store.ts';
import { ForkStore } from './fork-store.ts';
import { ClientCallStore } from './client-call-store.ts';
import { ConversationStore } from './conversation-store.ts';
import { Database } from './database.ts';
import { EventPruning } from './event-pruning.ts';
import { LimitStore } from './limit-store.ts';
import type { Orm } from './orm.ts';
import { QueueStore } from './queue-store.ts';
import { ReplyStore } from './reply-store.ts';
import { SnapshotStore } from './snapshot-store.ts';
import { UsageStore } from './usage-store.ts';

/** Every store, one job each, over one database seam. */
export interface Stores {
  /** Conversations themselves: create, read, list, change, delete. */
  conversations: ConversationStore;
  /** A conversation's state at one seq, its messages, its events. */
  snapshots: SnapshotStore;
  /** The queue of user messages, claims and leases. */
  queue: QueueStore;
  /** A running prompt's reply, its blocks and events, and its end. */
  replies: ReplyStore;
  /** Client tool calls and their answers. */
  clientCalls: ClientCallStore;
  compactions: CompactionStore;
  forks: ForkStore;
  /** Tenants' API keys. */
  apiKeys: ApiKeyStore;
  /** The usage ledger's totals. */
  usage: UsageStore;
  /** Tenants' policies and the usage their budgets are checked against. */
  limitStore: LimitStore;
  /** Deleting events past the retention horizon. */
  eventPruning: EventPruning;
  /** A key every instance shares, by name (made by a migration): `page_token`. */
  serverSecret(name: 'page_token'): Promise<string>;
  /** Whether the database takes writes now (for readiness). */
  acceptsWrites(): Promise<boolean>;
  /** The connection pool's state now (for metrics). */
  poolState(): { total: number; idle: number; waiting: number };
}

/** The stores over the ORM's connection pool; `onQuery` hears every statement (for counts). */
export async function openStores(orm: Orm, onQuery?: (sql: string) => void): Promise<Stores> {
  const pool = (await orm.em.getConnection().getNativeClient()) as pg.Pool;
  const db = new Database(pool, onQuery);
  return {
    conversations: new ConversationStore(db),
    snapshots: new SnapshotStore(db),
    queue: new QueueStore(db),
    replies: new ReplyStore(db),
    clientCalls: new ClientCallStore(db),
    compactions: new CompactionStore(db),
    forks: new ForkStore(db),
    apiKeys: new ApiKeyStore(db),
    usage: new UsageStore(db),
    limitStore: new LimitStore(db),
    eventPruning: new EventPruning(db),
    serverSecret: async (name) => {
      const [row] = await db.query<{ value: string }>('select value from server_secret where name = $1', [name]);
      if (!row) throw new Error(`the server secret ${name} is missing: the migrations did not run`);
      return row.value;
    },
    acceptsWrites: () => db.acceptsWrites(),
    poolState: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
  };
}
