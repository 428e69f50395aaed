// Conversations the fuzzer aims at, so that hostile inputs also reach the code behind
// "not found": an empty one, one with a finished exchange (message ids to cancel or retry), and
// one whose prompt waits for a client tool result (a tool use id to answer).
import { createRpcClient, type RpcClient } from '../support/clients.ts';
import { conversationApi } from '../support/conversation.ts';
import type { DatabaseWatch } from './database.ts';
import { UNKNOWN_UUID, type Pools } from './generate.ts';

interface Fixture {
  conversationId: string;
  messageIds: string[];
  toolUseIds: string[];
}

type FixtureKind = 'empty' | 'answered' | 'awaiting-tool';
const KINDS: readonly FixtureKind[] = ['empty', 'answered', 'awaiting-tool'];

async function waitFor<T>(what: string, probe: () => Promise<T | null>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== null) return value;
    if (Date.now() > deadline) throw new Error(`fixture: ${what} did not happen within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

export class Fixtures {
  readonly #client: RpcClient;
  readonly #db: DatabaseWatch;
  readonly #fixtures = new Map<FixtureKind, Fixture>();
  #pageToken = '';

  constructor(baseUrl: string, db: DatabaseWatch) {
    this.#client = createRpcClient('connect-node/connect', baseUrl);
    this.#db = db;
  }

  #livenessId = '';

  /** A conversation no fuzz input names, for the liveness checks (a fuzzed DeleteConversation may remove the others). */
  get livenessConversationId(): string {
    return this.#livenessId;
  }

  /** Makes every fixture that is missing or was touched by an accepted call (it may have changed). */
  async refresh(touched: ReadonlySet<string>): Promise<void> {
    if (this.#livenessId === '') this.#livenessId = await conversationApi(this.#client).create({}, 'fuzz: liveness');
    for (const kind of KINDS) {
      const fixture = this.#fixtures.get(kind);
      if (!fixture || touched.has(fixture.conversationId)) this.#fixtures.set(kind, await this.#make(kind));
    }
    if (this.#pageToken === '') {
      const page = await this.#client.unary('ListConversations', { pageSize: 1 });
      if (page.ok) this.#pageToken = String((page.response as { nextPageToken?: string }).nextPageToken ?? '');
    }
  }

  pools(): Pools {
    const all = [...this.#fixtures.values()];
    return {
      conversationIds: all.map((f) => f.conversationId),
      messageIds: all.flatMap((f) => f.messageIds),
      toolUseIds: all.flatMap((f) => f.toolUseIds),
      pageTokens: [
        this.#pageToken,
        // Hand-made: a cursor the server did not sign, and the unsigned format of old.
        `${Buffer.from(JSON.stringify({ v: 2, after: UNKNOWN_UUID })).toString('base64url')}.${Buffer.alloc(16).toString('base64url')}`,
        Buffer.from(JSON.stringify({ v: 1, after: UNKNOWN_UUID })).toString('base64url'),
        Buffer.from('{"v":1,"after":"x"}').toString('base64url'),
        Buffer.from('[1,2]').toString('base64url'),
        '!!!not base64!!!',
        '',
      ],
    };
  }

  close(): void {
    this.#client.close();
  }

  async #make(kind: FixtureKind): Promise<Fixture> {
    const api = conversationApi(this.#client);
    switch (kind) {
      case 'empty':
        return { conversationId: await api.create({}, 'fuzz: empty'), messageIds: [], toolUseIds: [] };
      case 'answered': {
        const conversationId = await api.create({}, 'fuzz: answered');
        await api.send(conversationId, 'Hello there', 'fuzz-request-1');
        const messages = await api.settled(conversationId);
        await this.#settle(conversationId);
        return { conversationId, messageIds: messages.map((m) => m.id), toolUseIds: [] };
      }
      case 'awaiting-tool': {
        const conversationId = await api.create(
          {
            clientTools: [
              { name: 'get_weather', description: 'The weather in a city', inputSchema: { type: 'object', properties: { city: { type: 'string' } } } },
            ],
          },
          'fuzz: awaiting a client tool',
        );
        await api.send(conversationId, 'What is the weather today in Paris?');
        const [call] = await waitFor('the client tool call', async () => {
          const rows = await this.#db.query<{ tool_use_id: string; message_id: string }>(
            `select tool_use_id, message_id from client_tool_call where conversation_id = $1 and status = 'awaiting'`,
            [conversationId],
          );
          return rows.length > 0 ? rows : null;
        });
        await this.#settle(conversationId);
        const messages = await api.messages(conversationId);
        return { conversationId, messageIds: messages.map((m) => m.id), toolUseIds: [call!.tool_use_id] };
      }
    }
  }

  /** Waits until nothing more is written to the conversation (its prompt ended or waits). */
  async #settle(conversationId: string): Promise<void> {
    let last = '';
    let stableSince = Date.now();
    await waitFor('a quiet conversation', async () => {
      const digest = (await this.#db.fingerprint()).get(conversationId) ?? '';
      if (digest !== last) {
        last = digest;
        stableSince = Date.now();
        return null;
      }
      return Date.now() - stableSince >= 150 ? true : null;
    });
  }
}
