// GET /metrics: Prometheus text with prom-client, after real traffic. Series are read back with
// a small parser of the exposition format, so each case checks values, not just names.
import { Code } from '@connectrpc/connect';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnthropicEmulator, overloaded, textTurn, toolUseTurn } from '../../src/emulator/index.ts';
import pg from 'pg';
import { startTestApp, type TestApp } from '../support/app.ts';
import { createRpcClient } from '../support/clients.ts';
import { conversationApi } from '../support/conversation.ts';

let emulator: AnthropicEmulator;
let url: string;

beforeAll(async () => {
  emulator = new AnthropicEmulator();
  url = await emulator.start();
});

afterAll(async () => {
  await emulator?.close();
});

/** Every sample of the exposition: `name{labels}` → value. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

function value(all: Map<string, number>, name: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const [key, sample] of all) {
    const [series, rest = ''] = key.split('{', 2);
    if (series !== name) continue;
    const have = rest.replace(/}$/, '').split(',').filter(Boolean);
    if (wanted.every((label) => have.includes(label)) && have.length === wanted.length) return sample;
  }
  return undefined;
}

async function scrape(baseUrl: string): Promise<Map<string, number>> {
  const response = await fetch(`${baseUrl}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toContain('text/plain');
  return samples(await response.text());
}

describe('metrics on the service port', () => {
  let server: TestApp;

  beforeAll(async () => {
    server = await startTestApp({ ANTHROPIC_API_KEY: 'test-key', ANTHROPIC_BASE_URL: url });
  });

  afterAll(async () => {
    await server?.close();
  });

  it('counts RPCs by method and code, times the unary ones, and reads the queue, the pool and the default process metrics', async () => {
    const client = createRpcClient('connect-node/connect', server.baseUrl);
    try {
      const api = conversationApi(client);
      emulator.enqueue(textTurn('counted'));
      const id = await api.create();
      await api.send(id, 'hello');
      await api.settled(id);
      expect(await client.unary('GetConversation', { conversationId: '0190a5d0-0000-7000-8000-000000000000' })).toMatchObject({ ok: false, code: Code.NotFound });
      const stream = await client.stream('Subscribe', { conversationId: id }, { take: 1 });
      expect(stream.responses).toHaveLength(1);
    } finally {
      client.close();
    }
    const rpc = (method: string, code: string) => ({ service: 'parley.v1.ConversationService', method, code });
    // The server hears of the cancelled stream a moment after the client stops reading.
    let all = await scrape(server.baseUrl);
    for (let tries = 0; tries < 100 && value(all, 'parley_rpc_handled_total', rpc('Subscribe', 'canceled')) === undefined; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      all = await scrape(server.baseUrl);
    }
    expect(value(all, 'parley_rpc_handled_total', rpc('SendMessage', 'ok'))).toBe(1);
    expect(value(all, 'parley_rpc_handled_total', rpc('GetConversation', 'not_found'))).toBe(1);
    expect(value(all, 'parley_rpc_duration_seconds_count', rpc('SendMessage', 'ok'))).toBe(1);
    // The stream was cut off by the client after one response.
    expect(value(all, 'parley_rpc_handled_total', rpc('Subscribe', 'canceled'))).toBe(1);
    expect(value(all, 'parley_rpc_streams_open', { service: 'parley.v1.ConversationService', method: 'Subscribe' })).toBe(0);
    expect(value(all, 'parley_queue_depth')).toBe(0);
    expect(value(all, 'parley_queue_oldest_age_seconds')).toBe(0);
    expect(value(all, 'parley_prompts_running')).toBe(0);
    expect(value(all, 'parley_db_pool_connections', { state: 'in_use' })).toBeGreaterThanOrEqual(0);
    expect(value(all, 'process_cpu_seconds_total')).toBeGreaterThan(0);
    expect(value(all, 'nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
  });

  it('shows queued messages and the age of the oldest while no instance runs prompts', async () => {
    const idle = await startTestApp({ ANTHROPIC_API_KEY: 'test-key', ANTHROPIC_BASE_URL: url, PARLEY_MAX_CONCURRENT_PROMPTS: '0' });
    const client = createRpcClient('connect-node/connect', idle.baseUrl);
    try {
      const api = conversationApi(client);
      const first = await api.create();
      await api.send(first, 'waits');
      await api.send(await api.create(), 'waits too');
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      const all = await scrape(idle.baseUrl);
      expect(value(all, 'parley_queue_depth')).toBe(2);
      expect(value(all, 'parley_queue_oldest_age_seconds')).toBeGreaterThanOrEqual(1);
    } finally {
      client.close();
      await idle.close();
    }
  });

  it('answers 405 to any method but GET and HEAD', async () => {
    for (const method of ['POST', 'PUT', 'DELETE']) {
      const response = await fetch(`${server.baseUrl}/metrics`, { method });
      expect({ method, status: response.status, allow: response.headers.get('allow') }).toEqual({ method, status: 405, allow: 'GET, HEAD' });
    }
  });

  it('keeps conversation and message ids out of every label', async () => {
    const text = await (await fetch(`${server.baseUrl}/metrics`)).text();
    expect(text).not.toMatch(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/);
  });
});

describe('the prompt runner\'s metrics', () => {
  it('counts model requests by outcome with their durations, tokens by kind, tool calls, and prompts by how they ended', async () => {
    const server = await startTestApp({ ANTHROPIC_API_KEY: 'test-key', ANTHROPIC_BASE_URL: url, ANTHROPIC_MAX_RETRIES: '0' });
    const client = createRpcClient('grpc-js', server.baseUrl);
    try {
      const api = conversationApi(client);
      emulator.enqueue(toolUseTurn('calculate', { expression: '6 * 7' }), textTurn('It is 42.'));
      const answered = await api.create({ enabledTools: ['calculate'] });
      await api.send(answered, 'What is six times seven?');
      await api.settled(answered);
      emulator.enqueue(overloaded());
      const refused = await api.create();
      await api.send(refused, 'Anyone there?');
      await api.settled(refused);

      const all = await scrape(server.baseUrl);
      const model = 'claude-sonnet-5-5';
      expect(value(all, 'parley_model_requests_total', { model, outcome: 'ok' })).toBe(2);
      expect(value(all, 'parley_model_requests_total', { model, outcome: 'model_overloaded' })).toBe(1);
      expect(value(all, 'parley_model_request_duration_seconds_count', { model, outcome: 'ok' })).toBe(2);
      expect(value(all, 'parley_model_time_to_first_token_seconds_count', { model })).toBe(2);
      expect(value(all, 'parley_model_tokens_total', { model, kind: 'input' })).toBeGreaterThan(0);
      expect(value(all, 'parley_model_tokens_total', { model, kind: 'output' })).toBeGreaterThan(0);
      expect(value(all, 'parley_tool_calls_total', { tool: 'calculate', outcome: 'ok' })).toBe(1);
      expect(value(all, 'parley_tool_call_duration_seconds_count', { tool: 'calculate' })).toBe(1);
      expect(value(all, 'parley_messages_ended_total', { status: 'completed', code: '' })).toBe(1);
      expect(value(all, 'parley_messages_ended_total', { status: 'failed', code: 'model_overloaded' })).toBe(1);
      expect(value(all, 'parley_prompt_duration_seconds_count', { status: 'completed' })).toBe(1);
    } finally {
      client.close();
      await server.close();
      emulator.reset();
    }
  });

  it('counts a lease taken over, the writes it fenced off, and the recovery of the lease once it expired', async () => {
    // Renewed every 300 ms, recovered within 100 ms of expiring.
    const server = await startTestApp({ ANTHROPIC_API_KEY: 'test-key', ANTHROPIC_BASE_URL: url, PARLEY_LEASE_MS: '900', PARLEY_QUEUE_POLL_MS: '100' });
    const client = createRpcClient('connect-node/connect', server.baseUrl);
    const db = new pg.Client({ connectionString: server.databaseUrl });
    await db.connect();
    try {
      const api = conversationApi(client);
      // Slow enough that the reply is still writing when its lease is taken.
      emulator.enqueue(textTurn('one two three four five six seven eight nine ten eleven twelve thirteen fourteen', { tokensPerSecond: 10 }), textTurn('Answered.'));
      const id = await api.create();
      const sent = await api.send(id, 'Take your time.');
      await api.until(id, (messages) => messages.some((m) => m.role === 'ROLE_ASSISTANT' && (m.blocks?.length ?? 0) > 0));
      // What another instance does when it claims the message: a new attempt, a new lease.
      await db.query(`update message set attempt = attempt + 1, lease_expires_at = now() + interval '900 milliseconds' where id = $1`, [sent.id]);
      const messages = await api.settled(id);
      expect(messages.find((m) => m.id === sent.id)?.status).toBe('MESSAGE_STATUS_COMPLETED');
      const all = await scrape(server.baseUrl);
      expect(value(all, 'parley_leases_lost_total')).toBe(1);
      expect(value(all, 'parley_fencing_rejections_total')).toBeGreaterThanOrEqual(1);
      // Nobody renews the other attempt's lease: it expires, and this instance takes the message back.
      expect(value(all, 'parley_lease_recoveries_total')).toBe(1);
    } finally {
      await db.end();
      client.close();
      await server.close();
      emulator.reset();
    }
  });
});

describe('metrics on a port of their own', () => {
  it('serves /metrics only there when PARLEY_METRICS_PORT is set, and nowhere when it is off', async () => {
    const own = await startTestApp({ PARLEY_METRICS_PORT: '0' });
    try {
      expect((await fetch(`${own.baseUrl}/metrics`)).status).toBe(404);
      const port = own.app.metricsPort;
      expect(port).not.toBeNull();
      const all = await scrape(`http://127.0.0.1:${port}`);
      expect(value(all, 'parley_subscribers')).toBe(0);
    } finally {
      await own.close();
    }
    const off = await startTestApp({ PARLEY_METRICS_PORT: 'off' });
    try {
      expect((await fetch(`${off.baseUrl}/metrics`)).status).toBe(404);
      expect(off.app.metricsPort).toBeNull();
    } finally {
      await off.close();
    }
  });
});
