import { createClient, type Client } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Message } from '../../gen/parley/v1/conversation_pb.ts';
import { ConversationService, type SubscribeResponse } from '../../gen/parley/v1/conversation_service_pb.ts';
import { AnthropicEmulator, textTurn, type MessagesRequest, type ReplyBlock, type WireBlock } from '../../src/emulator/index.ts';
import { startTestApp, type TestApp } from '../support/app.ts';

// The API sends server tool blocks (server_tool_use, web_search_tool_result) when it runs a tool
// itself. Parley keeps none of them: the reply it stores, streams and sends back must read as if
// the model had written only its text.

const SEARCH_ID = 'srvtoolu_01WYG3ziw53XMcoyKL4XcZmE';
const BEFORE = 'Let me look that up.';
const AFTER = 'It is sunny in Paris, around 24 degrees.';

const search: ReplyBlock[] = [
  { type: 'server_tool_use', id: SEARCH_ID, name: 'web_search', input: { query: 'weather in Paris today' } },
  {
    type: 'web_search_tool_result',
    tool_use_id: SEARCH_ID,
    content: [
      {
        type: 'web_search_result',
        url: 'https://weather.example/paris',
        title: 'Paris weather today',
        encrypted_content: 'EqgfCioIARgBIiQ3YTAwMjY1Mi1mZjM5',
        page_age: '2 hours ago',
      },
    ],
  },
];

const COMPLETED = 3; // MESSAGE_STATUS_COMPLETED

let emulator: AnthropicEmulator;
let server: TestApp;
let client: Client<typeof ConversationService>;

beforeAll(async () => {
  emulator = new AnthropicEmulator();
  const url = await emulator.start();
  server = await startTestApp({ ANTHROPIC_API_KEY: 'test-key', ANTHROPIC_BASE_URL: url, PARLEY_DELTA_FLUSH_MS: '5', PARLEY_QUEUE_POLL_MS: '200' });
  client = createClient(ConversationService, createGrpcTransport({ baseUrl: server.baseUrl }));
});

afterEach(() => emulator.reset());

afterAll(async () => {
  await server?.close();
  await emulator?.close();
});

type Event = SubscribeResponse['event'];

/** Subscribes, sends `text` once the snapshot is in, and collects every event until the prompt ends. */
async function promptAndWatch(conversationId: string, text: string): Promise<Event[]> {
  const abort = new AbortController();
  const events: Event[] = [];
  try {
    for await (const response of client.subscribe({ conversationId }, { signal: abort.signal })) {
      if (response.event.case === 'heartbeat') continue;
      events.push(response.event);
      if (response.event.case === 'snapshot') await client.sendMessage({ conversationId, text });
      if (response.event.case === 'promptFinished' || response.event.case === 'promptFailed') break;
    }
  } finally {
    abort.abort();
  }
  return events;
}

async function settled(conversationId: string): Promise<Message[]> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const { messages } = await client.getConversation({ conversationId });
    if (messages.filter((m) => m.role === 1).every((m) => m.status >= COMPLETED)) return messages;
    if (Date.now() > deadline) throw new Error('the conversation did not settle');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

function blockEvents(events: Event[]): Array<{ kind: string; index: number; messageId: string }> {
  return events.flatMap((event) =>
    event.case === 'blockStarted' || event.case === 'blockDelta' || event.case === 'blockStopped'
      ? [{ kind: event.case, index: event.value.index, messageId: event.value.messageId }]
      : [],
  );
}

const summary = (blocks: Message['blocks']): Array<{ type: string | undefined; text?: string }> =>
  blocks.map((block) => (block.content.case === 'text' ? { type: 'text', text: block.content.value.text } : { type: block.content.case }));

function assistantContent(body: MessagesRequest, at: number): WireBlock[] {
  const message = body.messages[at];
  expect(message?.role).toBe('assistant');
  return typeof message?.content === 'string' ? [{ type: 'text', text: message.content }] : [...(message?.content ?? [])];
}

const typesAndTexts = (blocks: readonly WireBlock[]): Array<{ type: string; text?: unknown }> =>
  blocks.map((block) => (block.type === 'text' ? { type: block.type, text: block.text } : { type: block.type }));

describe('server tool blocks in a model reply', () => {
  it('keeps only the text blocks, at dense positions, and sends a valid history afterwards', async () => {
    const { conversation } = await client.createConversation({ title: 'web search' });
    const conversationId = conversation!.id;
    emulator.enqueue({ blocks: [{ type: 'text', text: BEFORE }, ...search, { type: 'text', text: AFTER }] });

    const events = await promptAndWatch(conversationId, 'What is the weather in Paris?');
    const finished = events.at(-1);
    expect(finished?.case).toBe('promptFinished');
    const replyId = finished?.case === 'promptFinished' ? finished.value.replyId : '';
    expect(finished?.case === 'promptFinished' && finished.value.stopReason).toBe('end_turn');

    // Over Subscribe: blocks 0 and 1 only, though the model's stream numbered them 0 and 3.
    const blocks = blockEvents(events);
    expect(blocks.every((event) => event.messageId === replyId)).toBe(true);
    expect(blocks.filter((event) => event.kind === 'blockStarted').map((event) => event.index)).toEqual([0, 1]);
    expect(blocks.filter((event) => event.kind === 'blockStopped').map((event) => event.index)).toEqual([0, 1]);
    expect(new Set(blocks.map((event) => event.index))).toEqual(new Set([0, 1]));
    const stopped = events.flatMap((event) => (event.case === 'blockStopped' ? [event.value.block?.content] : []));
    expect(stopped.map((content) => content?.case === 'text' && content.value.text)).toEqual([BEFORE, AFTER]);

    // Stored: exactly the two text blocks.
    const messages = await settled(conversationId);
    expect(messages).toHaveLength(2);
    const [question, reply] = messages;
    expect(question?.status).toBe(COMPLETED);
    expect(reply?.id).toBe(replyId);
    expect(reply?.status).toBe(COMPLETED);
    expect(reply?.stopReason).toBe('end_turn');
    expect(summary(reply?.blocks ?? [])).toEqual([
      { type: 'text', text: BEFORE },
      { type: 'text', text: AFTER },
    ]);

    // The next prompt: the emulator validates the history it receives, so a 200 means it was valid.
    emulator.enqueue(textTurn('You are welcome.'));
    await client.sendMessage({ conversationId, text: 'Thanks!' });
    const after = await settled(conversationId);
    expect(after.map((m) => m.status)).toEqual([COMPLETED, COMPLETED, COMPLETED, COMPLETED]);
    expect(summary(after[3]?.blocks ?? [])).toEqual([{ type: 'text', text: 'You are welcome.' }]);

    const bodies = emulator.messageBodies as MessagesRequest[];
    expect(bodies).toHaveLength(2);
    const history = bodies[1]!.messages;
    expect(history.map((m) => m.role)).toEqual(['user', 'assistant', 'user']);
    expect(typesAndTexts(assistantContent(bodies[1]!, 1))).toEqual([
      { type: 'text', text: BEFORE },
      { type: 'text', text: AFTER },
    ]);
  });

  it('keeps positions dense across a tool round when the server blocks come before a client-side tool call', async () => {
    const { conversation } = await client.createConversation({ title: 'search then calculate', settings: { enabledTools: ['calculate'] } });
    const conversationId = conversation!.id;
    emulator.enqueue(
      {
        blocks: [
          { type: 'text', text: BEFORE },
          ...search,
          { type: 'tool_use', name: 'calculate', input: { expression: '24*9/5+32' }, id: 'toolu_01calc' },
        ],
      },
      textTurn('That is 75.2 °F.'),
    );

    const events = await promptAndWatch(conversationId, 'And in Fahrenheit?');
    expect(events.at(-1)?.case).toBe('promptFinished');
    // Tool results are appended whole: they stop without having started.
    const blocks = blockEvents(events);
    expect(blocks.filter((event) => event.kind === 'blockStarted').map((event) => event.index)).toEqual([0, 1, 3]);
    expect(blocks.filter((event) => event.kind === 'blockStopped').map((event) => event.index)).toEqual([0, 1, 2, 3]);

    const [, reply] = await settled(conversationId);
    expect(summary(reply?.blocks ?? [])).toEqual([
      { type: 'text', text: BEFORE },
      { type: 'toolUse' },
      { type: 'toolResult' },
      { type: 'text', text: 'That is 75.2 °F.' },
    ]);

    // The second model call of the prompt carries the call and its result, without the server blocks.
    const second = (emulator.messageBodies as MessagesRequest[])[1]!;
    expect(typesAndTexts(assistantContent(second, 1))).toEqual([{ type: 'text', text: BEFORE }, { type: 'tool_use' }]);
    const results = second.messages[2]?.content;
    expect(Array.isArray(results) && results.map((block) => [block.type, block.tool_use_id])).toEqual([['tool_result', 'toolu_01calc']]);
  });
});
