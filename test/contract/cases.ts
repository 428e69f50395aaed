// Contract cases, per RPC of the service. contract.test.ts runs every case on every client and
// fails for an RPC of the service descriptor that has no case here.
import { ownerOf } from '../support/owner.ts';
import type { JsonObject, JsonValue } from '@bufbuild/protobuf';
import { Code } from '@connectrpc/connect';
import { expect } from 'vitest';
import type { ConversationStore } from '../../src/store/conversation-store.ts';
import type { SnapshotStore } from '../../src/store/snapshot-store.ts';
import type { CallResult, RpcClient } from '../support/clients.ts';

export interface Fixtures {
  conversations: ConversationStore;
  snapshots: SnapshotStore;
  /** A conversation that exists, created for this case. */
  conversationId(): Promise<string>;
  /** Number of conversations stored, to show a rejected call wrote nothing. */
  countConversations(): Promise<number>;
}

export interface ContractCase {
  name: string;
  run(client: RpcClient, fixtures: Fixtures): Promise<void>;
}

const UNKNOWN_ID = '01a20d34-0000-7000-8000-000000000000';

function expectOk(result: CallResult): JsonObject {
  if (!result.ok) throw new Error(`expected success, got ${Code[result.code]}: ${result.message}`);
  return result.response as JsonObject;
}

function expectError(result: CallResult, code: Code, mentions: string): void {
  if (result.ok) throw new Error(`expected ${Code[code]}, got success: ${JSON.stringify(result.response)}`);
  expect(Code[result.code]).toBe(Code[code]);
  expect(result.message).toContain(mentions);
}

/** A rejected call must leave the store as it was. */
/** A conversation with a message "second" cancelled while it waited behind "first". */
async function cancelledBehindAnother(client: RpcClient, fixtures: Fixtures): Promise<{ conversationId: string; messageId: string }> {
  const conversationId = await fixtures.conversationId();
  expectOk(await client.unary('SendMessage', { conversationId, text: 'first' }));
  const second = expectOk(await client.unary('SendMessage', { conversationId, text: 'second' }));
  const messageId = (second.message as JsonObject).id as string;
  expectOk(await client.unary('CancelPrompt', { conversationId, messageId }));
  return { conversationId, messageId };
}

function rejectsWithoutWriting(name: string, rpc: string, request: JsonValue, code: Code, mentions: string): ContractCase {
  return {
    name,
    async run(client, fixtures) {
      const before = await fixtures.countConversations();
      expectError(await client.unary(rpc, request), code, mentions);
      expect(await fixtures.countConversations()).toBe(before);
    },
  };
}

export const contractCases: Record<string, ContractCase[]> = {
  CreateConversation: [
    {
      name: 'creates with a trimmed title and the server defaults',
      async run(client) {
        const { conversation } = expectOk(await client.unary('CreateConversation', { title: '  Trip planning  ' })) as {
          conversation: JsonObject;
        };
        expect(conversation.id).toMatch(/^[0-9a-f-]{36}$/);
        expect(conversation.title).toBe('Trip planning');
        expect(conversation.settings).toMatchObject({ model: 'claude-sonnet-5-5', maxTokens: 4096 });
        expect(conversation.createTime).toBeTypeOf('string');
      },
    },
    {
      name: 'keeps every setting it is given, including client tools',
      async run(client) {
        const settings = {
          model: 'claude-opus-4-1',
          systemPrompt: 'You are terse.',
          maxTokens: 2048,
          clientTools: [
            {
              name: 'lookup_order',
              description: 'Finds an order by its number.',
              inputSchema: { type: 'object', properties: { number: { type: 'string' } }, required: ['number'] },
            },
          ],
          contextManagement: { strategy: 'CONTEXT_STRATEGY_CLEAR_TOOL_USES', triggerTokens: 50000, keepToolUses: 5 },
        };
        const { conversation } = expectOk(await client.unary('CreateConversation', { title: 'Orders', settings })) as {
          conversation: JsonObject;
        };
        expect(conversation.settings).toEqual(settings);
      },
    },
    {
      name: 'keeps adaptive thinking, effort and display',
      async run(client) {
        const settings = { model: 'claude-opus-4-6', maxTokens: 8000, thinking: { mode: 'THINKING_MODE_ADAPTIVE', effort: 'EFFORT_MEDIUM', display: 'THINKING_DISPLAY_OMITTED' } };
        const { conversation } = expectOk(await client.unary('CreateConversation', { title: 'Thinks', settings })) as { conversation: JsonObject };
        expect((conversation.settings as JsonObject).thinking).toEqual(settings.thinking);
      },
    },
    rejectsWithoutWriting('rejects an empty title', 'CreateConversation', { title: '   ' }, Code.InvalidArgument, 'title'),
    rejectsWithoutWriting(
      'rejects adaptive thinking on a model that has none',
      'CreateConversation',
      { title: 'T', settings: { model: 'claude-sonnet-4-5', thinking: { mode: 'THINKING_MODE_ADAPTIVE' } } },
      Code.InvalidArgument,
      'settings.thinking.mode',
    ),
    rejectsWithoutWriting(
      'rejects a thinking budget on a model that takes only adaptive thinking',
      'CreateConversation',
      { title: 'T', settings: { model: 'claude-opus-4-7', maxTokens: 8000, thinkingBudgetTokens: 2048 } },
      Code.InvalidArgument,
      'settings.thinking_budget_tokens',
    ),
    rejectsWithoutWriting(
      'rejects a context trigger past the model\'s window',
      'CreateConversation',
      { title: 'T', settings: { contextManagement: { triggerTokens: 10_000_000 } } },
      Code.InvalidArgument,
      'settings.context_management.trigger_tokens',
    ),
    rejectsWithoutWriting('rejects a title with a NUL character', 'CreateConversation', { title: 'a\u0000b' }, Code.InvalidArgument, 'title'),
    rejectsWithoutWriting('rejects a title over 200 characters', 'CreateConversation', { title: 'x'.repeat(201) }, Code.InvalidArgument, 'title'),
    rejectsWithoutWriting(
      'rejects a thinking budget under 1024',
      'CreateConversation',
      { title: 'T', settings: { thinkingBudgetTokens: 500 } },
      Code.InvalidArgument,
      'settings.thinking_budget_tokens',
    ),
    rejectsWithoutWriting(
      'rejects a thinking budget not below max_tokens',
      'CreateConversation',
      { title: 'T', settings: { maxTokens: 2000, thinkingBudgetTokens: 2000 } },
      Code.InvalidArgument,
      'settings.thinking_budget_tokens',
    ),
    rejectsWithoutWriting(
      'rejects an unknown server tool',
      'CreateConversation',
      { title: 'T', settings: { enabledTools: ['no_such_tool'] } },
      Code.InvalidArgument,
      'settings.enabled_tools[0]',
    ),
    rejectsWithoutWriting(
      'rejects a client tool whose schema is not an object schema',
      'CreateConversation',
      { title: 'T', settings: { clientTools: [{ name: 'x', inputSchema: { type: 'string' } }] } },
      Code.InvalidArgument,
      'settings.client_tools[0].input_schema',
    ),
  ],

  GetConversation: [
    {
      name: 'returns the conversation and its messages',
      async run(client, fixtures) {
        const id = await fixtures.conversationId();
        const response = expectOk(await client.unary('GetConversation', { conversationId: id }));
        expect((response.conversation as JsonObject).id).toBe(id);
        expect(response.messages ?? []).toEqual([]);
      },
    },
    {
      name: 'rejects a malformed id',
      async run(client) {
        expectError(await client.unary('GetConversation', { conversationId: 'not-an-id' }), Code.InvalidArgument, 'conversation_id');
      },
    },
    {
      name: 'rejects a missing id',
      async run(client) {
        expectError(await client.unary('GetConversation', {}), Code.InvalidArgument, 'conversation_id');
      },
    },
    {
      name: 'answers not_found for an unknown id',
      async run(client) {
        expectError(await client.unary('GetConversation', { conversationId: UNKNOWN_ID }), Code.NotFound, UNKNOWN_ID);
      },
    },
  ],

  GetUsage: [
    {
      name: 'answers totals for the last 30 days by default, one per day and model',
      async run(client) {
        const totals = (expectOk(await client.unary('GetUsage', {})).totals ?? []) as JsonObject[];
        for (const total of totals) {
          expect(total.day).toMatch(/^\d{4}-\d{2}-\d{2}$/);
          expect(total.model).toEqual(expect.any(String));
          expect(Number(total.modelRequests)).toBeGreaterThan(0);
        }
        expect(new Set(totals.map((t) => `${t.day} ${t.model}`)).size).toBe(totals.length);
      },
    },
    {
      name: 'takes a range and a grouping',
      async run(client) {
        const request = { startTime: '2026-01-01T00:00:00Z', endTime: '2026-02-01T00:00:00Z', groupBy: 'USAGE_GROUPING_SUBJECT' };
        expect(expectOk(await client.unary('GetUsage', request)).totals ?? []).toEqual([]);
      },
    },
    {
      name: 'rejects a range that ends before it starts',
      async run(client) {
        const request = { startTime: '2026-02-01T00:00:00Z', endTime: '2026-01-01T00:00:00Z' };
        expectError(await client.unary('GetUsage', request), Code.InvalidArgument, 'start_time');
      },
    },
    {
      name: 'rejects a range of over 400 days',
      async run(client) {
        expectError(await client.unary('GetUsage', { startTime: '2020-01-01T00:00:00Z', endTime: '2026-01-01T00:00:00Z' }), Code.InvalidArgument, '400 days');
      },
    },
    {
      name: 'rejects a grouping it does not know',
      async run(client) {
        expectError(await client.unary('GetUsage', { groupBy: 99 }), Code.InvalidArgument, 'group_by');
      },
    },
  ],

  ListConversations: [
    {
      name: 'pages newest first with a token that continues where it stopped',
      async run(client, fixtures) {
        const older = await fixtures.conversationId();
        const newer = await fixtures.conversationId();
        const first = expectOk(await client.unary('ListConversations', { pageSize: 1 }));
        expect((first.conversations as JsonObject[]).map((c) => c.id)).toEqual([newer]);
        expect(first.nextPageToken).toBeTypeOf('string');
        const second = expectOk(await client.unary('ListConversations', { pageSize: 1, pageToken: first.nextPageToken as string }));
        expect((second.conversations as JsonObject[]).map((c) => c.id)).toEqual([older]);
      },
    },
    {
      name: 'rejects a page size over 100',
      async run(client) {
        expectError(await client.unary('ListConversations', { pageSize: 101 }), Code.InvalidArgument, 'page_size');
      },
    },
    {
      name: 'rejects a page token it did not issue, a hand-made cursor and a token changed by one character',
      async run(client, fixtures) {
        expectError(await client.unary('ListConversations', { pageToken: 'garbage!' }), Code.InvalidArgument, 'page_token');
        const id = await fixtures.conversationId();
        const handMade = Buffer.from(JSON.stringify({ v: 1, after: id })).toString('base64url');
        expectError(await client.unary('ListConversations', { pageToken: handMade }), Code.InvalidArgument, 'page_token');
        await fixtures.conversationId();
        const issued = expectOk(await client.unary('ListConversations', { pageSize: 1 })).nextPageToken as string;
        const dot = issued.indexOf('.');
        const changed = `${issued.slice(0, dot + 1)}${issued[dot + 1] === 'A' ? 'B' : 'A'}${issued.slice(dot + 2)}`;
        expectError(await client.unary('ListConversations', { pageToken: changed }), Code.InvalidArgument, 'page_token');
        // The same bits with other unused padding bits in the last character are not the token either.
        const padded = `${issued.slice(0, -1)}${issued.at(-1) === 'A' ? 'B' : 'A'}`;
        expectError(await client.unary('ListConversations', { pageToken: padded }), Code.InvalidArgument, 'page_token');
      },
    },
  ],

  UpdateConversation: [
    {
      name: 'changes the title and replaces the settings',
      async run(client, fixtures) {
        const id = await fixtures.conversationId();
        const response = expectOk(
          await client.unary('UpdateConversation', { conversationId: id, title: 'Renamed', settings: { maxTokens: 1000 } }),
        );
        expect(response.conversation).toMatchObject({ id, title: 'Renamed', settings: { maxTokens: 1000 } });
        const stored = await fixtures.conversations.get(ownerOf('default'), id);
        expect(stored?.title).toBe('Renamed');
      },
    },
    {
      name: 'leaves unset fields as they are',
      async run(client, fixtures) {
        const id = await fixtures.conversationId();
        const response = expectOk(await client.unary('UpdateConversation', { conversationId: id, title: 'Only title' }));
        expect(response.conversation).toMatchObject({ title: 'Only title', settings: { maxTokens: 4096 } });
      },
    },
    {
      name: 'rejects an empty title and writes nothing',
      async run(client, fixtures) {
        const id = await fixtures.conversationId();
        const before = await fixtures.conversations.get(ownerOf('default'), id);
        expectError(await client.unary('UpdateConversation', { conversationId: id, title: '' }), Code.InvalidArgument, 'title');
        expect(await fixtures.conversations.get(ownerOf('default'), id)).toEqual(before);
      },
    },
    {
      name: 'answers not_found for an unknown id',
      async run(client) {
        expectError(await client.unary('UpdateConversation', { conversationId: UNKNOWN_ID, title: 'x' }), Code.NotFound, UNKNOWN_ID);
      },
    },
  ],

  DeleteConversation: [
    {
      name: 'deletes, after which the conversation is not found',
      async run(client, fixtures) {
        const id = await fixtures.conversationId();
        expectOk(await client.unary('DeleteConversation', { conversationId: id }));
        expectError(await client.unary('GetConversation', { conversationId: id }), Code.NotFound, id);
      },
    },
    {
      name: 'answers not_found for an unknown id',
      async run(client) {
        expectError(await client.unary('DeleteConversation', { conversationId: UNKNOWN_ID }), Code.NotFound, UNKNOWN_ID);
      },
    },
    {
      name: 'rejects a malformed id',
      async run(client) {
        expectError(await client.unary('DeleteConversation', { conversationId: '12' }), Code.InvalidArgument, 'conversation_id');
      },
    },
  ],

  SendMessage: [
    {
      name: 'REJECT_IF_BUSY: queued into an idle conversation, refused with nothing stored when a message waits',
      async run(client, fixtures) {
        const conversationId = await fixtures.conversationId();
        const first = expectOk(await client.unary('SendMessage', { conversationId, text: 'first', mode: 'SEND_MODE_REJECT_IF_BUSY' }));
        expect(first.message).toMatchObject({ status: 'MESSAGE_STATUS_QUEUED' });
        expectError(await client.unary('SendMessage', { conversationId, text: 'second', mode: 'SEND_MODE_REJECT_IF_BUSY' }), Code.FailedPrecondition, 'busy');
        const stored = expectOk(await client.unary('GetConversation', { conversationId }));
        expect((stored.messages as JsonObject[]).filter((m) => m.role === 'ROLE_USER')).toHaveLength(1);
        // QUEUE, the default, queues behind it.
        expectOk(await client.unary('SendMessage', { conversationId, text: 'third', mode: 'SEND_MODE_QUEUE' }));
      },
    },
    {
      name: 'queues a user message with its queue position',
      async run(client, fixtures) {
        const conversationId = await fixtures.conversationId();
        const first = expectOk(await client.unary('SendMessage', { conversationId, text: 'Hello' }));
        expect(first.message).toMatchObject({
          conversationId,
          role: 'ROLE_USER',
          status: 'MESSAGE_STATUS_QUEUED',
          blocks: [{ text: { text: 'Hello' } }],
        });
        const second = expectOk(await client.unary('SendMessage', { conversationId, text: 'And another thing' }));
        expect((second.message as JsonObject).queuePosition).toBe(1);
      },
    },
    {
      name: 'returns the same message for a repeated request_id',
      async run(client, fixtures) {
        const conversationId = await fixtures.conversationId();
        const first = expectOk(await client.unary('SendMessage', { conversationId, text: 'Once', requestId: 'abc-1' }));
        const again = expectOk(await client.unary('SendMessage', { conversationId, text: 'Once', requestId: 'abc-1' }));
        expect((again.message as JsonObject).id).toBe((first.message as JsonObject).id);
      },
    },
    {
      name: 'rejects empty text and writes nothing',
      async run(client, fixtures) {
        const conversationId = await fixtures.conversationId();
        expectError(await client.unary('SendMessage', { conversationId, text: '  ' }), Code.InvalidArgument, 'text');
        expect(await fixtures.snapshots.messages(ownerOf('default'), conversationId)).toEqual([]);
      },
    },
    {
      name: 'rejects text over 100,000 characters',
      async run(client, fixtures) {
        const conversationId = await fixtures.conversationId();
        expectError(await client.unary('SendMessage', { conversationId, text: 'x'.repeat(100_001) }), Code.InvalidArgument, 'text');
      },
    },
    {
      name: 'answers not_found for an unknown conversation',
      async run(client) {
        expectError(await client.unary('SendMessage', { conversationId: UNKNOWN_ID, text: 'hi' }), Code.NotFound, UNKNOWN_ID);
      },
    },
  ],
  Subscribe: [
    {
      name: 'starts with a snapshot of the conversation at its current seq',
      async run(client, fixtures) {
        const conversationId = await fixtures.conversationId();
        const result = await client.stream('Subscribe', { conversationId }, { take: 1 });
        expect(result.error).toBeNull();
        const first = result.responses[0] as JsonObject;
        expect(first.seq ?? '0').toBe('0'); // proto3 JSON leaves out zero
        expect(first).toMatchObject({ snapshot: { conversation: { id: conversationId } } });
      },
    },
    {
      name: 'carries a queued message as an event after the snapshot',
      async run(client, fixtures) {
        const conversationId = await fixtures.conversationId();
        const stream = client.stream('Subscribe', { conversationId }, { take: 2 });
        // Sent after the subscription opened; the stream must carry it whatever the timing.
        await new Promise((resolve) => setTimeout(resolve, 50));
        expectOk(await client.unary('SendMessage', { conversationId, text: 'streamed' }));
        const result = await stream;
        expect(result.error).toBeNull();
        const [first, second] = result.responses as JsonObject[];
        const snapshotHasIt = JSON.stringify(first).includes('streamed');
        if (!snapshotHasIt) expect(second).toMatchObject({ seq: '1', messageQueued: { message: { blocks: [{ text: { text: 'streamed' } }] } } });
      },
    },
    {
      name: 'answers not_found for an unknown conversation',
      async run(client) {
        const result = await client.stream('Subscribe', { conversationId: UNKNOWN_ID });
        expect(result.error?.code).toBe(Code.NotFound);
      },
    },
    {
      name: 'rejects a malformed id',
      async run(client) {
        const result = await client.stream('Subscribe', { conversationId: 'nope' });
        expect(result.error?.code).toBe(Code.InvalidArgument);
        expect(result.error?.message).toContain('conversation_id');
      },
    },
  ],
  CancelPrompt: [
    {
      name: 'takes a queued message out of the queue',
      async run(client, fixtures) {
        const conversationId = await fixtures.conversationId();
        // The offline model answers the first slowly, so the second is still queued.
        expectOk(await client.unary('SendMessage', { conversationId, text: 'first' }));
        const second = expectOk(await client.unary('SendMessage', { conversationId, text: 'second' }));
        const messageId = (second.message as JsonObject).id as string;
        const response = expectOk(await client.unary('CancelPrompt', { conversationId, messageId }));
        expect(response.message).toMatchObject({ id: messageId, status: 'MESSAGE_STATUS_CANCELLED' });
        expectError(await client.unary('CancelPrompt', { conversationId, messageId }), Code.FailedPrecondition, 'cancelled');
      },
    },
    {
      name: 'answers not_found for an unknown message',
      async run(client, fixtures) {
        const conversationId = await fixtures.conversationId();
        expectError(await client.unary('CancelPrompt', { conversationId, messageId: UNKNOWN_ID }), Code.NotFound, UNKNOWN_ID);
      },
    },
    {
      name: 'rejects a malformed message id',
      async run(client, fixtures) {
        const conversationId = await fixtures.conversationId();
        expectError(await client.unary('CancelPrompt', { conversationId, messageId: 'x' }), Code.InvalidArgument, 'message_id');
      },
    },
  ],
  SubmitToolResult: [
    {
      name: 'answers not_found for a call that does not exist',
      async run(client, fixtures) {
        const conversationId = await fixtures.conversationId();
        expectError(
          await client.unary('SubmitToolResult', { conversationId, toolUseId: 'toolu_01unknown', content: '42' }),
          Code.NotFound,
          'toolu_01unknown',
        );
      },
    },
    {
      name: 'rejects a malformed tool use id',
      async run(client, fixtures) {
        const conversationId = await fixtures.conversationId();
        expectError(await client.unary('SubmitToolResult', { conversationId, toolUseId: 'a b' }), Code.InvalidArgument, 'tool_use_id');
      },
    },
    {
      name: 'rejects a missing conversation id',
      async run(client) {
        expectError(await client.unary('SubmitToolResult', { toolUseId: 'toolu_1' }), Code.InvalidArgument, 'conversation_id');
      },
    },
  ],
  ForkConversation: [
    {
      name: 'forks at an ended message with new text: a new conversation with that text queued, the original unchanged',
      async run(client, fixtures) {
        const { conversationId, messageId } = await cancelledBehindAnother(client, fixtures);
        const forked = expectOk(await client.unary('ForkConversation', { conversationId, messageId, text: 'second, edited', title: 'Edited' }));
        const conversation = forked.conversation as JsonObject;
        expect(conversation.id).not.toBe(conversationId);
        expect(conversation.title).toBe('Edited');
        expect(forked.message).toMatchObject({ conversationId: conversation.id, role: 'ROLE_USER', status: 'MESSAGE_STATUS_QUEUED', blocks: [{ text: { text: 'second, edited' } }] });
        const original = expectOk(await client.unary('GetConversation', { conversationId }));
        expect((original.messages as JsonObject[]).find((m) => m.id === messageId)).toMatchObject({ status: 'MESSAGE_STATUS_CANCELLED', blocks: [{ text: { text: 'second' } }] });
      },
    },
    {
      name: 'refuses a message still queued or running',
      async run(client, fixtures) {
        const conversationId = await fixtures.conversationId();
        expectOk(await client.unary('SendMessage', { conversationId, text: 'first' }));
        const second = expectOk(await client.unary('SendMessage', { conversationId, text: 'second' }));
        const messageId = (second.message as JsonObject).id as string;
        const before = await fixtures.countConversations();
        expectError(await client.unary('ForkConversation', { conversationId, messageId }), Code.FailedPrecondition, 'queued');
        expect(await fixtures.countConversations()).toBe(before);
      },
    },
    {
      name: 'answers not_found for an unknown message',
      async run(client, fixtures) {
        const conversationId = await fixtures.conversationId();
        expectError(await client.unary('ForkConversation', { conversationId, messageId: UNKNOWN_ID }), Code.NotFound, UNKNOWN_ID);
      },
    },
    rejectsWithoutWriting('rejects a missing message id', 'ForkConversation', { conversationId: UNKNOWN_ID }, Code.InvalidArgument, 'message_id'),
  ],
  RetryMessage: [
    {
      name: 'queues a cancelled message again',
      async run(client, fixtures) {
        const { conversationId, messageId } = await cancelledBehindAnother(client, fixtures);
        const response = expectOk(await client.unary('RetryMessage', { conversationId, messageId }));
        expect(response.message).toMatchObject({ id: messageId, status: 'MESSAGE_STATUS_QUEUED' });
      },
    },
    {
      name: 'refuses a message that is not failed or cancelled',
      async run(client, fixtures) {
        const conversationId = await fixtures.conversationId();
        expectOk(await client.unary('SendMessage', { conversationId, text: 'first' }));
        const second = expectOk(await client.unary('SendMessage', { conversationId, text: 'second' }));
        const messageId = (second.message as JsonObject).id as string;
        expectError(await client.unary('RetryMessage', { conversationId, messageId }), Code.FailedPrecondition, 'queued');
      },
    },
    {
      name: 'answers not_found for an unknown message',
      async run(client, fixtures) {
        const conversationId = await fixtures.conversationId();
        expectError(await client.unary('RetryMessage', { conversationId, messageId: UNKNOWN_ID }), Code.NotFound, UNKNOWN_ID);
      },
    },
  ],
};
