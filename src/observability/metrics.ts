// Every metric Parley exports, named in one place (docs/operations.md lists them with their
// meaning). Components are given this object and call its verbs; none of them touches
// prom-client. Labels never carry a conversation, message or tenant id: a label's values are a
// fixed set, or capped (model and tool names, which callers choose) by LabelCap.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Buckets for model requests and prompts: seconds to minutes. */
const SLOW = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160, 320];
/** Buckets for RPCs, tool calls and event delivery: milliseconds to seconds. */
const FAST = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export type TokenKind = 'input' | 'output' | 'cache_read' | 'cache_write';

/** Values the gauges read when scraped, supplied by the composition root. */
export interface MetricSources {
  queue(): Promise<{ queued: number; oldestAgeSeconds: number }>;
  promptsRunning(): number;
  subscribers(): number;
  pool(): { total: number; idle: number; waiting: number };
}

/**
 * Caller-chosen names (models, tools) as label values: the first `max` distinct ones as they
 * are, every later one as `other`, so a caller cannot grow the series without bound.
 */
export class LabelCap {
  readonly #seen = new Set<string>();
  readonly #max: number;
  constructor(max: number) {
    this.#max = max;
  }
  of(value: string): string {
    if (this.#seen.has(value)) return value;
    if (this.#seen.size >= this.#max) return 'other';
    this.#seen.add(value);
    return value;
  }
}

export class Metrics {
  readonly registry = new Registry();
  readonly #models = new LabelCap(50);
  readonly #tools = new LabelCap(200);

  readonly #rpcHandled = new Counter({ name: 'parley_rpc_handled_total', help: 'RPCs ended, by service, method and status code.', labelNames: ['service', 'method', 'code'], registers: [this.registry] });
  readonly #rpcSeconds = new Histogram({ name: 'parley_rpc_duration_seconds', help: 'Duration of unary RPCs, by service, method and status code.', labelNames: ['service', 'method', 'code'], buckets: FAST, registers: [this.registry] });
  readonly #streamsOpen = new Gauge({ name: 'parley_rpc_streams_open', help: 'Streaming RPCs open on this instance, by service and method.', labelNames: ['service', 'method'], registers: [this.registry] });
  readonly #messagesEnded = new Counter({ name: 'parley_messages_ended_total', help: 'Prompts this instance ended, by terminal status and error code (none when completed).', labelNames: ['status', 'code'], registers: [this.registry] });
  readonly #promptSeconds = new Histogram({ name: 'parley_prompt_duration_seconds', help: 'Duration of prompts this instance ran, from claim to outcome.', labelNames: ['status'], buckets: SLOW, registers: [this.registry] });
  readonly #leaseRecoveries = new Counter({ name: 'parley_lease_recoveries_total', help: 'Prompts whose lease had expired (their instance stopped) recovered by this instance.', registers: [this.registry] });
  readonly #leasesLost = new Counter({ name: 'parley_leases_lost_total', help: 'Prompts this instance stopped because it found its lease taken over.', registers: [this.registry] });
  readonly #fencingRejections = new Counter({ name: 'parley_fencing_rejections_total', help: 'Writes of a prompt refused because its claim no longer held.', registers: [this.registry] });
  readonly #modelRequests = new Counter({ name: 'parley_model_requests_total', help: 'Model API requests, by model and outcome.', labelNames: ['model', 'outcome'], registers: [this.registry] });
  readonly #modelSeconds = new Histogram({ name: 'parley_model_request_duration_seconds', help: 'Duration of model API requests, from the request to the end of its stream.', labelNames: ['model', 'outcome'], buckets: SLOW, registers: [this.registry] });
  readonly #firstToken = new Histogram({ name: 'parley_model_time_to_first_token_seconds', help: 'Time from a model API request to its first streamed content.', labelNames: ['model'], buckets: SLOW, registers: [this.registry] });
  readonly #tokens = new Counter({ name: 'parley_model_tokens_total', help: 'Tokens of model API requests, by model and kind (input, output, cache_read, cache_write).', labelNames: ['model', 'kind'], registers: [this.registry] });
  readonly #toolCalls = new Counter({ name: 'parley_tool_calls_total', help: 'Tool calls run or handed to the client, by tool and outcome.', labelNames: ['tool', 'outcome'], registers: [this.registry] });
  readonly #toolSeconds = new Histogram({ name: 'parley_tool_call_duration_seconds', help: 'Duration of tool calls Parley ran, by tool.', labelNames: ['tool'], buckets: FAST, registers: [this.registry] });
  readonly #deliveryLag = new Histogram({ name: 'parley_event_delivery_lag_seconds', help: 'Time from an event being stored to it being handed to a Subscribe stream.', buckets: FAST, registers: [this.registry] });
  readonly #notifyReconnects = new Counter({ name: 'parley_notify_reconnects_total', help: 'Reconnects of the LISTEN connection that carries notifications.', registers: [this.registry] });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  /** The gauges read at scrape time. Called once, by the composition root. */
  observe(sources: MetricSources): void {
    const registers = [this.registry];
    new Gauge({
      name: 'parley_queue_depth',
      help: 'User messages queued and not yet claimed, over every instance (the same on each).',
      registers,
      async collect() {
        this.set((await sources.queue().catch(() => null))?.queued ?? Number.NaN);
      },
    });
    new Gauge({
      name: 'parley_queue_oldest_age_seconds',
      help: 'Age of the oldest queued user message, since it was sent; 0 when none is queued.',
      registers,
      async collect() {
        this.set((await sources.queue().catch(() => null))?.oldestAgeSeconds ?? Number.NaN);
      },
    });
    new Gauge({ name: 'parley_prompts_running', help: 'Prompts this instance is running.', registers, collect() { this.set(sources.promptsRunning()); } });
    new Gauge({ name: 'parley_subscribers', help: 'Subscribe subscriptions open on this instance.', registers, collect() { this.set(sources.subscribers()); } });
    new Gauge({
      name: 'parley_db_pool_connections',
      help: 'Database connections of this instance, by state (idle, in_use).',
      labelNames: ['state'],
      registers,
      collect() {
        const pool = sources.pool();
        this.set({ state: 'idle' }, pool.idle);
        this.set({ state: 'in_use' }, pool.total - pool.idle);
      },
    });
    new Gauge({ name: 'parley_db_pool_waiting', help: 'Requests waiting for a database connection of this instance.', registers, collect() { this.set(sources.pool().waiting); } });
  }

  rpcEnded(service: string, method: string, code: string, seconds: number | null): void {
    this.#rpcHandled.inc({ service, method, code });
    if (seconds !== null) this.#rpcSeconds.observe({ service, method, code }, seconds);
  }

  streamOpened(service: string, method: string): () => void {
    this.#streamsOpen.inc({ service, method });
    return () => this.#streamsOpen.dec({ service, method });
  }

  promptEnded(status: string, code: string | null, seconds: number): void {
    this.#messagesEnded.inc({ status, code: code ?? '' });
    this.#promptSeconds.observe({ status }, seconds);
  }

  leasesRecovered(count: number): void {
    this.#leaseRecoveries.inc(count);
  }

  leaseLost(): void {
    this.#leasesLost.inc();
  }

  fencingRejected(): void {
    this.#fencingRejections.inc();
  }

  modelRequestEnded(model: string, outcome: string, seconds: number, firstTokenSeconds: number | null): void {
    const labels = { model: this.#models.of(model), outcome };
    this.#modelRequests.inc(labels);
    this.#modelSeconds.observe(labels, seconds);
    if (firstTokenSeconds !== null) this.#firstToken.observe({ model: labels.model }, firstTokenSeconds);
  }

  tokensUsed(model: string, tokens: Record<TokenKind, number>): void {
    const capped = this.#models.of(model);
    for (const [kind, count] of Object.entries(tokens)) if (count > 0) this.#tokens.inc({ model: capped, kind }, count);
  }

  toolCallEnded(tool: string, outcome: string, seconds: number | null): void {
    const capped = this.#tools.of(tool);
    this.#toolCalls.inc({ tool: capped, outcome });
    if (seconds !== null) this.#toolSeconds.observe({ tool: capped }, seconds);
  }

  eventDelivered(lagSeconds: number): void {
    this.#deliveryLag.observe(Math.max(0, lagSeconds));
  }

  notifyReconnected(): void {
    this.#notifyReconnects.inc();
  }

  /** The exposition text for GET /metrics. */
  async exposition(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
