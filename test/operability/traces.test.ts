// OpenTelemetry traces, read back from the SDK's in-memory exporter: the tree one SendMessage
// with a tool round makes (the RPC's server span, the prompt's own trace linked to it, a `chat`
// span per model request and an `execute_tool` span per call, with the GenAI attributes), the
// trace context a client tool call hands to its caller, and content kept off spans by default.
import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConversationService } from '../../gen/parley/v1/conversation_service_pb.ts';
import { AnthropicEmulator, textTurn, toolUseTurn } from '../../src/emulator/index.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { createRpcClient, type RpcClient } from '../support/clients.ts';
import { conversationApi } from '../support/conversation.ts';

const exporter = new InMemorySpanExporter();
const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
const contextManager = new AsyncLocalStorageContextManager().enable();

// The caller's trace: the SendMessage span must be its child.
const CALLER_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const CALLER_SPAN = '00f067aa0ba902b7';

let emulator: AnthropicEmulator;
let env: Record<string, string>;
let server: TestApp;
let client: RpcClient;
const lines: string[] = [];

beforeAll(async () => {
  trace.setGlobalTracerProvider(provider);
  context.setGlobalContextManager(contextManager);
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  emulator = new AnthropicEmulator();
  env = { ANTHROPIC_API_KEY: 'test-key', ANTHROPIC_BASE_URL: await emulator.start(), LOG_LEVEL: 'info' };
  server = await startTestApp(env, { logLines: (line) => lines.push(line) });
  client = createRpcClient('connect-node/connect', server.baseUrl, { headers: { traceparent: `00-${CALLER_TRACE}-${CALLER_SPAN}-01` } });
});

afterEach(() => {
  exporter.reset();
  emulator.reset();
});

afterAll(async () => {
  client?.close();
  await server?.close();
  await emulator?.close();
  await provider.shutdown();
  trace.disable();
  context.disable();
  propagation.disable();
});

const named = (spans: ReadableSpan[], name: string) => spans.filter((span) => span.name === name);
const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;
const ms = ([seconds, nanos]: [number, number]) => seconds * 1e3 + nanos / 1e6;

/** The finished spans, once `done` holds of them (spans end a moment after what a test awaits). */
async function spansWhen(done: (spans: ReadableSpan[]) => boolean): Promise<ReadableSpan[]> {
  for (let tries = 0; tries < 200; tries++) {
    const spans = exporter.getFinishedSpans();
    if (done(spans)) return spans;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`spans: ${exporter.getFinishedSpans().map((span) => span.name).join(', ')}`);
}

describe('traces', () => {
  it('one SendMessage with a tool round: its server span, and the prompt trace linked to it with chat and execute_tool spans', async () => {
    emulator.enqueue(toolUseTurn('calculate', { expression: '6 * 7' }, { id: 'toolu_traced' }), textTurn('It is 42.'));
    const api = conversationApi(client);
    const conversationId = await api.create({ enabledTools: ['calculate'] });
    const sent = await api.send(conversationId, 'What is six times seven?');
    await api.settled(conversationId);
    const spans = await spansWhen((all) => named(all, 'invoke_agent parley').length === 1);

    const [send] = named(spans, 'parley.v1.ConversationService/SendMessage');
    expect(send?.spanContext().traceId).toBe(CALLER_TRACE);
    expect(parentOf(send!)).toBe(CALLER_SPAN);
    expect(send!.attributes).toMatchObject({ 'rpc.system': 'connect_rpc', 'rpc.service': 'parley.v1.ConversationService', 'rpc.method': 'SendMessage' });

    // The prompt runs apart from the request (later, maybe elsewhere): a trace of its own, linked.
    const [prompt] = named(spans, 'invoke_agent parley');
    expect(prompt!.spanContext().traceId).not.toBe(CALLER_TRACE);
    expect(parentOf(prompt!)).toBeUndefined();
    expect(prompt!.links.map((link) => link.context.spanId)).toEqual([send!.spanContext().spanId]);
    expect(prompt!.attributes).toMatchObject({
      'gen_ai.operation.name': 'invoke_agent',
      'gen_ai.conversation.id': conversationId,
      'parley.message.id': sent.id,
      'parley.attempt': 1,
      'parley.prompt.status': 'completed',
    });

    const chats = spans.filter((span) => span.name.startsWith('chat ')).sort((a, b) => ms(a.startTime) - ms(b.startTime));
    expect(chats).toHaveLength(2);
    for (const chat of chats) {
      expect(chat.spanContext().traceId).toBe(prompt!.spanContext().traceId);
      expect(parentOf(chat)).toBe(prompt!.spanContext().spanId);
      expect(chat.attributes).toMatchObject({ 'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'anthropic', 'gen_ai.request.model': 'claude-sonnet-5-5' });
      expect(chat.attributes['gen_ai.response.id']).toMatch(/^msg_/);
      expect(chat.attributes['gen_ai.usage.input_tokens']).toBeGreaterThan(0);
      expect(chat.attributes['gen_ai.usage.output_tokens']).toBeGreaterThan(0);
      expect(chat.attributes).toHaveProperty('gen_ai.usage.cache_read.input_tokens');
      expect(chat.attributes).toHaveProperty('gen_ai.usage.cache_creation.input_tokens');
    }
    expect(chats.map((chat) => chat.attributes['gen_ai.response.finish_reasons'])).toEqual([['tool_use'], ['end_turn']]);

    const [tool] = named(spans, 'execute_tool calculate');
    expect(parentOf(tool!)).toBe(prompt!.spanContext().spanId);
    expect(tool!.attributes).toMatchObject({ 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'calculate', 'gen_ai.tool.call.id': 'toolu_traced', 'parley.tool.kind': 'server' });
    // The tool ran between the two model requests.
    expect(ms(tool!.startTime)).toBeGreaterThanOrEqual(ms(chats[0]!.endTime));
    expect(ms(tool!.endTime)).toBeLessThanOrEqual(ms(chats[1]!.startTime));

    // Content stays off spans unless PARLEY_TRACE_CONTENT is set.
    const keys = spans.flatMap((span) => Object.keys(span.attributes));
    expect(keys.filter((key) => /messages|instructions|arguments|result/.test(key))).toEqual([]);

    // The prompt's log line carries the prompt's trace id.
    const ended = lines.map((line) => JSON.parse(line) as Record<string, unknown>).find((line) => line.msg === 'prompt ended' && line.messageId === sent.id);
    expect(ended?.traceId).toBe(prompt!.spanContext().traceId);
  });

  it('hands a client tool call its span’s trace context, so the handler of the call joins the trace', async () => {
    emulator.enqueue(toolUseTurn('lookup_order', { number: 'A-17' }), textTurn('Monday.'));
    const api = conversationApi(client);
    const conversationId = await api.create({
      clientTools: [{ name: 'lookup_order', description: 'Finds an order.', inputSchema: { type: 'object', properties: { number: { type: 'string' } } } }],
    });
    const watcher = createClient(ConversationService, createConnectTransport({ baseUrl: server.baseUrl, httpVersion: '1.1' }));
    const abort = new AbortController();
    const stream = watcher.subscribe({ conversationId }, { signal: abort.signal })[Symbol.asyncIterator]();
    try {
      expect((await stream.next()).value?.event.case).toBe('snapshot');
      await api.send(conversationId, 'When does A-17 ship?');
      let awaiting;
      for (;;) {
        const { value, done } = await stream.next();
        if (done) throw new Error('stream ended');
        if (value.event.case === 'toolCallAwaitingClient') {
          awaiting = value.event.value;
          break;
        }
      }
      const answered = await client.unary('SubmitToolResult', { conversationId, toolUseId: awaiting.toolUseId, content: 'Ships Monday.' });
      expect(answered.ok).toBe(true);
      await api.settled(conversationId);
      const spans = await spansWhen((all) => named(all, 'invoke_agent parley').length === 1);
      const [tool] = named(spans, 'execute_tool lookup_order');
      expect(tool!.attributes).toMatchObject({ 'parley.tool.kind': 'client', 'gen_ai.tool.call.id': awaiting.toolUseId });
      expect(awaiting.traceparent).toBe(`00-${tool!.spanContext().traceId}-${tool!.spanContext().spanId}-01`);
    } finally {
      abort.abort();
    }
  });

  it('records messages, tool inputs and results on spans when PARLEY_TRACE_CONTENT is set', async () => {
    const withContent = await startTestApp({ ...env, PARLEY_TRACE_CONTENT: 'true' });
    const other = createRpcClient('grpc-js', withContent.baseUrl);
    try {
      emulator.enqueue(toolUseTurn('calculate', { expression: '2 + 3' }), textTurn('Five.'));
      const api = conversationApi(other);
      const conversationId = await api.create({ enabledTools: ['calculate'] });
      await api.send(conversationId, 'Add two and three.');
      await api.settled(conversationId);
      const spans = await spansWhen((all) => named(all, 'invoke_agent parley').length === 1);
      const [send] = named(spans, 'parley.v1.ConversationService/SendMessage');
      expect(send!.attributes['rpc.system']).toBe('grpc');
      expect(send!.attributes['rpc.grpc.status_code']).toBe(0);
      const chats = spans.filter((span) => span.name.startsWith('chat '));
      expect(String(chats[0]!.attributes['gen_ai.input.messages'])).toContain('Add two and three.');
      expect(chats.map((chat) => String(chat.attributes['gen_ai.output.messages'])).join()).toContain('Five.');
      const [tool] = named(spans, 'execute_tool calculate');
      expect(JSON.parse(String(tool!.attributes['gen_ai.tool.call.arguments']))).toEqual({ expression: '2 + 3' });
      expect(tool!.attributes['gen_ai.tool.call.result']).toBe('5');
    } finally {
      other.close();
      await withContent.close();
    }
  });
});
