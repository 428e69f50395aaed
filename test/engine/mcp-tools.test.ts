import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnthropicEmulator, textTurn, toolUseTurn, type MessagesRequest } from '../../src/emulator/index.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { createRpcClient, type RpcClient } from '../support/clients.ts';
import { conversationApi, repliesTo } from '../support/conversation.ts';
import { NODE, STDIO_SERVER } from '../tools/fixtures/mcp-harness.ts';

// The service as an operator configures it: an MCP server process over stdio, named "fx".
let emulator: AnthropicEmulator;
let server: TestApp;
let client: RpcClient;

beforeAll(async () => {
  emulator = new AnthropicEmulator();
  server = await startTestApp({
    ANTHROPIC_API_KEY: 'test-key',
    ANTHROPIC_BASE_URL: await emulator.start(),
    PARLEY_MCP_SERVERS: JSON.stringify([{ name: 'fx', command: NODE, args: [STDIO_SERVER] }]),
  });
  client = createRpcClient('grpc-js', server.baseUrl);
});

afterAll(async () => {
  client?.close();
  await server?.close();
  await emulator?.close();
});

describe('MCP tools in a conversation', () => {
  it('offers the server tools namespaced, runs the call on the MCP server and feeds the result back', async () => {
    emulator.enqueue(toolUseTurn('fx__add', { a: 2, b: 3 }), textTurn('2 + 3 = 5'));
    const api = conversationApi(client);
    const id = await api.create({ enabledTools: ['fx__add'] });
    await api.send(id, 'add 2 and 3');
    const messages = await api.settled(id);
    const user = messages.find((m) => m.role === 'ROLE_USER')!;
    expect(user.status).toBe('MESSAGE_STATUS_COMPLETED');

    const [first, second] = emulator.requests.map((r) => r.body as MessagesRequest);
    expect(first!.tools?.map((t) => t.name)).toEqual(['fx__add']);
    const results = (second!.messages.at(-1)!.content as Array<{ type: string; content?: unknown; is_error?: boolean }>).filter(
      (b) => b.type === 'tool_result',
    );
    expect(results).toEqual([expect.objectContaining({ content: '5' })]);
    const reply = repliesTo(messages, user.id)[0]!;
    expect(reply.blocks?.some((b) => b.toolResult && (b.toolResult as { content: string }).content === '5')).toBe(true);
  });

  it('refuses a conversation that enables a tool no server offers', async () => {
    const created = await client.unary('CreateConversation', { title: 't', settings: { enabledTools: ['fx__nope'] } });
    expect(created.ok).toBe(false);
  });
});
