// Configuration comes from the environment only, and is checked once, at start: every problem
// is reported at once, each with what to do about it. A problem names the variable, never its
// value: values may be secrets, and the problems go to logs.

import { tracingWanted } from './observability/tracing.ts';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { parsePolicyJson, type TenantPolicy } from './domain/tenant-policy.ts';
import type { JwtOptions } from './engine/identity/jwt-verifier.ts';
import type { ConnectionLimits } from './server/connection-limits.ts';
import type { DatabaseTimeouts } from './store/orm.ts';
import { McpConfigError, parseMcpServers, type McpServerConfig } from './tools/mcp/config.ts';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

export interface Config {
  /** TCP port; 0 picks a free one (tests). */
  port: number;
  /** Address to bind. */
  host: string;
  /** Where GET /metrics is served: on the service port, a port of its own (0: any free one), or nowhere. */
  metrics: { on: 'service' } | { on: 'port'; port: number } | { on: 'off' };
  /** null: start the embedded PostgreSQL under `dataDir`. */
  databaseUrl: string | null;
  /** Where embedded state lives (the embedded PostgreSQL's files). */
  dataDir: string;
  /** null: start the offline model (the built-in Anthropic wire emulator). */
  anthropicApiKey: string | null;
  /** Passed to the SDK as its baseURL; null keeps the SDK's default. */
  anthropicBaseUrl: string | null;
  /** Model used when a conversation does not name one. */
  defaultModel: string;
  /** max_tokens used when a conversation does not set one. */
  defaultMaxTokens: number;
  /** Origins allowed to call from a browser; empty: none. `*` allows any. */
  corsOrigins: string[];
  logLevel: LogLevel;
  /** On every log line and on each prompt attempt it runs: which instance did it. */
  instanceId: string;
  /** The OTEL_* variables ask for traces to be exported (observability/tracing.ts). */
  tracing: boolean;
  /** Spans carry messages, tool inputs and results (PARLEY_TRACE_CONTENT). */
  traceContent: boolean;
  /** Database connections per instance. */
  databasePoolSize: number;
  /** Bounds on waiting for a connection, on statements, on idle transactions; TCP keepalive. */
  databaseTimeouts: DatabaseTimeouts;
  /** Prompts one instance runs at once; 0 makes an instance that only serves the API. */
  maxConcurrentPrompts: number;
  /** How long a running prompt's claim holds without renewal before another instance recovers it. */
  leaseMs: number;
  /** Safety-net queue poll interval. */
  queuePollMs: number;
  /** Attempts per message when instances die while answering it. */
  maxPromptAttempts: number;
  /** Model calls ending in tool use per prompt. */
  maxToolRounds: number;
  /** Queued plus running user messages per conversation. */
  maxQueuedPerConversation: number;
  /** Characters of a user message's text, and of a client tool's result. */
  maxMessageChars: number;
  /** Blocks (text, thinking, tool calls, tool results) one assistant message may hold. */
  maxBlocksPerMessage: number;
  /** Open Subscribe streams per conversation on one instance. */
  maxSubscribersPerConversation: number;
  /** Open Subscribe streams on one instance, over every conversation. */
  maxSubscribers: number;
  /** Open Subscribe streams of one principal (a tenant's key, or one subject) on one instance. */
  maxSubscribersPerPrincipal: number;
  /** Longest a unary RPC may run; a caller's shorter deadline wins. Subscribe is exempt. */
  requestTimeoutMs: number;
  /** SDK retries of 429, 529, 5xx and connection errors before the first token. */
  anthropicMaxRetries: number;
  /** Pace of the offline model; 0 streams as fast as possible. */
  offlineTokensPerSecond: number;
  /** Context window of the offline model, in its estimated tokens; longer prompts get the API's 400. */
  offlineContextTokens: number;
  /**
   * The context window of the models the API serves this instance (the offline model's is
   * offlineContextTokens): what context management fits histories into.
   */
  modelContextTokens: number;
  /** How long streamed deltas gather before one write and one event carry them. */
  deltaFlushMs: number;
  /** Heartbeat interval on an idle Subscribe stream. */
  heartbeatMs: number;
  /** How often the health service asks the database while a Watch is open. */
  healthProbeMs: number;
  /** Events a subscriber may fall behind by before its stream ends with resource_exhausted. */
  subscriberBufferEvents: number;
  /** Bytes of events (as JSON) a subscriber may fall behind by: memory per slow subscriber stays bounded. */
  subscriberBufferBytes: number;
  /** On SIGTERM, how long running prompts may go on before they are stopped and requeued. */
  shutdownGraceMs: number;
  /** How long a client tool call waits for SubmitToolResult before it becomes an error result. */
  clientToolTimeoutMs: number;
  /** MCP servers whose tools are offered beside the built-ins (PARLEY_MCP_SERVERS, a JSON array). */
  mcpServers: McpServerConfig[];
  /** A model stream that sends nothing but pings for this long fails the prompt. */
  modelIdleTimeoutMs: number;
  /** `auto`: API keys once one exists (open until then, on loopback only); `off`: never (warned). */
  auth: 'auto' | 'off';
  /** How long a key lookup is trusted: a revoked key stops working within this, on every instance. */
  authCacheMs: number;
  /** Timeouts and caps of the port's connections (see src/server/connection-limits.ts). */
  connections: ConnectionLimits;
  /** Host names this instance answers to while it runs open, besides loopback ones. */
  allowedHosts: string[];
  /** JWTs of the team's own issuer, for browser users; null: none accepted. */
  jwt: JwtOptions | null;
  /** Events older than this are deleted (resuming from before them gets a snapshot); 0 keeps them. */
  eventRetentionMs: number;
  /** Every tenant's limits where the keys command stored none of its own (PARLEY_TENANT_LIMITS, JSON). */
  tenantLimits: TenantPolicy;
}

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

type Env = Record<string, string | undefined>;

const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error', 'silent'];

/** LOG_LEVEL as the service reads it (unset: info); null when it names no level. */
export function parseLogLevel(raw: string | undefined): LogLevel | null {
  const level = raw?.trim().toLowerCase() || 'info';
  return LOG_LEVELS.includes(level as LogLevel) ? (level as LogLevel) : null;
}

function metricsSetting(raw: string | null, problems: string[]): Config['metrics'] {
  if (raw === null) return { on: 'service' };
  if (raw.toLowerCase() === 'off') return { on: 'off' };
  const port = Number(raw);
  if (Number.isInteger(port) && port >= 0 && port <= 65_535) return { on: 'port', port };
  problems.push('PARLEY_METRICS_PORT must be a port from 0 to 65535 (metrics on a port of their own) or off; unset it to serve /metrics on the service port.');
  return { on: 'service' };
}

export function loadConfig(env: Env = process.env): Config {
  const problems: string[] = [];
  const text = (name: string): string | null => {
    const value = env[name]?.trim();
    return value ? value : null;
  };
  const integer = (name: string, fallback: number, min: number, max: number): number => {
    const raw = text(name);
    if (raw === null) return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      problems.push(`${name} must be a whole number from ${min} to ${max}; unset it to use ${fallback}.`);
      return fallback;
    }
    return value;
  };
  const url = (name: string, protocols: string[], example: string): string | null => {
    const raw = text(name);
    if (raw === null) return null;
    try {
      const parsed = new URL(raw);
      if (!protocols.includes(parsed.protocol)) throw new Error('protocol');
      return raw;
    } catch {
      problems.push(`${name} must be a URL like ${example}; unset it to use the built-in default.`);
      return null;
    }
  };

  const flag = (name: string, fallback: boolean): boolean => {
    const raw = text(name)?.toLowerCase() ?? null;
    if (raw === null) return fallback;
    if (raw === 'true' || raw === '1') return true;
    if (raw === 'false' || raw === '0') return false;
    problems.push(`${name} must be true or false; unset it to use ${fallback}.`);
    return fallback;
  };

  const logLevel = parseLogLevel(env['LOG_LEVEL']);
  if (logLevel === null) problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}.`);
  const apiKey = text('ANTHROPIC_API_KEY');
  let mcpServers: McpServerConfig[] = [];
  try {
    mcpServers = parseMcpServers(env['PARLEY_MCP_SERVERS']);
  } catch (error) {
    // Anything else is a bug, not a setting to change; its text is not shown as a problem.
    if (!(error instanceof McpConfigError)) throw error;
    problems.push(...error.problems);
  }
  const config: Config = {
    port: integer('PORT', 8080, 0, 65_535),
    host: text('HOST') ?? '127.0.0.1',
    metrics: metricsSetting(text('PARLEY_METRICS_PORT'), problems),
    databaseUrl: url('DATABASE_URL', ['postgres:', 'postgresql:'], 'postgres://user:password@host:5432/parley'),
    dataDir: text('PARLEY_DATA_DIR') ?? '.parley',
    anthropicApiKey: apiKey,
    anthropicBaseUrl: url('ANTHROPIC_BASE_URL', ['http:', 'https:'], 'https://api.anthropic.com'),
    defaultModel: text('PARLEY_DEFAULT_MODEL') ?? 'claude-sonnet-5-5',
    defaultMaxTokens: integer('PARLEY_DEFAULT_MAX_TOKENS', 4096, 1, 128_000),
    corsOrigins: (text('CORS_ORIGINS') ?? '').split(',').map((o) => o.trim()).filter(Boolean),
    logLevel: logLevel ?? 'info',
    instanceId: text('PARLEY_INSTANCE_ID') ?? generatedInstanceId(),
    tracing: tracingWanted(env),
    traceContent: flag('PARLEY_TRACE_CONTENT', false),
    databasePoolSize: integer('DATABASE_POOL_SIZE', 10, 1, 1000),
    databaseTimeouts: {
      acquireMs: integer('DATABASE_ACQUIRE_TIMEOUT_MS', 10_000, 100, 600_000),
      // Longer than the request timeout: a request's own deadline answers its caller first.
      statementMs: integer('DATABASE_STATEMENT_TIMEOUT_MS', 60_000, 0, 3_600_000),
      idleInTransactionMs: integer('DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS', 60_000, 0, 3_600_000),
      keepAliveMs: integer('DATABASE_KEEPALIVE_MS', 10_000, 0, 3_600_000),
    },
    maxConcurrentPrompts: integer('PARLEY_MAX_CONCURRENT_PROMPTS', 64, 0, 10_000),
    leaseMs: integer('PARLEY_LEASE_MS', 30_000, 300, 3_600_000),
    queuePollMs: integer('PARLEY_QUEUE_POLL_MS', 2_000, 10, 600_000),
    maxPromptAttempts: integer('PARLEY_MAX_PROMPT_ATTEMPTS', 3, 1, 100),
    maxToolRounds: integer('PARLEY_MAX_TOOL_ROUNDS', 10, 1, 1000),
    maxQueuedPerConversation: integer('PARLEY_MAX_QUEUED_PER_CONVERSATION', 100, 1, 100_000),
    // Counted in UTF-16 units, at most 3 bytes each in UTF-8: a million still fits the 4 MiB
    // request limit, more would be refused as too large before this check could name the field.
    maxMessageChars: integer('PARLEY_MAX_MESSAGE_CHARS', 100_000, 1, 1_000_000),
    maxBlocksPerMessage: integer('PARLEY_MAX_BLOCKS_PER_MESSAGE', 1_000, 1, 100_000),
    maxSubscribersPerConversation: integer('PARLEY_MAX_SUBSCRIBERS_PER_CONVERSATION', 1_000, 1, 1_000_000),
    maxSubscribers: integer('PARLEY_MAX_SUBSCRIBERS', 20_000, 1, 10_000_000),
    maxSubscribersPerPrincipal: integer('PARLEY_MAX_SUBSCRIBERS_PER_PRINCIPAL', 5_000, 1, 10_000_000),
    requestTimeoutMs: integer('PARLEY_REQUEST_TIMEOUT_MS', 30_000, 100, 3_600_000),
    anthropicMaxRetries: integer('ANTHROPIC_MAX_RETRIES', 3, 0, 20),
    offlineTokensPerSecond: integer('PARLEY_OFFLINE_TOKENS_PER_SECOND', 30, 0, 1_000_000),
    offlineContextTokens: integer('PARLEY_OFFLINE_CONTEXT_TOKENS', 200_000, 1, 10_000_000),
    modelContextTokens: integer('PARLEY_MODEL_CONTEXT_TOKENS', 200_000, 1_024, 10_000_000),
    deltaFlushMs: integer('PARLEY_DELTA_FLUSH_MS', 50, 1, 600_000),
    heartbeatMs: integer('PARLEY_HEARTBEAT_MS', 15_000, 10, 3_600_000),
    healthProbeMs: integer('PARLEY_HEALTH_PROBE_MS', 5_000, 10, 3_600_000),
    subscriberBufferEvents: integer('PARLEY_SUBSCRIBER_BUFFER_EVENTS', 10_000, 1, 10_000_000),
    subscriberBufferBytes: integer('PARLEY_SUBSCRIBER_BUFFER_BYTES', 2 * 1024 * 1024, 1_024, 1024 * 1024 * 1024),
    shutdownGraceMs: integer('PARLEY_SHUTDOWN_GRACE_MS', 10_000, 0, 3_600_000),
    clientToolTimeoutMs: integer('PARLEY_CLIENT_TOOL_TIMEOUT_MS', 300_000, 100, 86_400_000),
    mcpServers,
    modelIdleTimeoutMs: integer('PARLEY_MODEL_IDLE_TIMEOUT_MS', 60_000, 100, 3_600_000),
    auth: (text('PARLEY_AUTH') ?? 'auto').toLowerCase() === 'off' ? 'off' : 'auto',
    authCacheMs: integer('PARLEY_AUTH_CACHE_MS', 2_000, 0, 60_000),
    jwt: null,
    connections: {
      headersTimeoutMs: integer('PARLEY_HEADERS_TIMEOUT_MS', 20_000, 100, 600_000),
      requestTimeoutMs: integer('PARLEY_REQUEST_BODY_TIMEOUT_MS', 60_000, 100, 3_600_000),
      // Longer than the usual load balancer idle timeout (60 s), so that the balancer, not Parley,
      // closes an idle connection and never sends a request down one being closed.
      keepAliveTimeoutMs: integer('PARLEY_KEEP_ALIVE_TIMEOUT_MS', 65_000, 100, 600_000),
      http2MaxConcurrentStreams: integer('PARLEY_HTTP2_MAX_STREAMS', 100, 1, 10_000),
      http2IdleTimeoutMs: integer('PARLEY_HTTP2_IDLE_TIMEOUT_MS', 120_000, 1_000, 3_600_000),
      maxConnections: integer('PARLEY_MAX_CONNECTIONS', 10_000, 1, 1_000_000),
    },
    allowedHosts: (text('PARLEY_ALLOWED_HOSTS') ?? '').split(',').map((h) => h.trim()).filter(Boolean),
    tenantLimits: tenantLimits(text('PARLEY_TENANT_LIMITS'), problems),
    eventRetentionMs: integer('PARLEY_EVENT_RETENTION_MS', 7 * 86_400_000, 0, 3_650 * 86_400_000),
  };
  const jwksUrl = url('PARLEY_JWT_JWKS_URL', ['https:', 'http:'], 'https://auth.example.com/.well-known/jwks.json');
  const publicKey = text('PARLEY_JWT_PUBLIC_KEY');
  if (jwksUrl !== null || publicKey !== null) {
    const issuer = text('PARLEY_JWT_ISSUER');
    const audience = text('PARLEY_JWT_AUDIENCE');
    if (jwksUrl !== null && publicKey !== null) problems.push('Set one of PARLEY_JWT_JWKS_URL and PARLEY_JWT_PUBLIC_KEY, not both.');
    if (publicKey !== null && !publicKey.startsWith('-----BEGIN PUBLIC KEY-----') && !publicKey.startsWith('{')) {
      problems.push('PARLEY_JWT_PUBLIC_KEY must be a PEM public key (-----BEGIN PUBLIC KEY-----) or a JWKS document ({"keys": [...]}).');
    }
    if (issuer === null) problems.push('PARLEY_JWT_ISSUER must name the issuer (the iss claim) your tokens carry.');
    if (audience === null) problems.push('PARLEY_JWT_AUDIENCE must name the audience (the aud claim) your tokens carry for Parley.');
    config.jwt = {
      jwksUrl,
      publicKey,
      issuer: issuer ?? '',
      audience: audience ?? '',
      tenantClaim: text('PARLEY_JWT_TENANT_CLAIM') ?? 'tenant',
      subjectClaim: text('PARLEY_JWT_SUBJECT_CLAIM') ?? 'sub',
      clockSkewSeconds: integer('PARLEY_JWT_CLOCK_SKEW_S', 30, 0, 3_600),
    };
  }
  const auth = (text('PARLEY_AUTH') ?? 'auto').toLowerCase();
  if (auth !== 'auto' && auth !== 'off') problems.push('PARLEY_AUTH must be auto (API keys, open until the first one exists) or off.');
  config.corsOrigins.forEach((origin, index) => {
    if (origin !== '*' && !/^https?:\/\/[^/]+$/.test(origin)) {
      problems.push(`CORS_ORIGINS entry ${index + 1} must be an origin like https://app.example.com (no path), or *.`);
    }
  });
  if (config.heartbeatMs >= config.connections.http2IdleTimeoutMs) {
    problems.push('PARLEY_HEARTBEAT_MS must be shorter than PARLEY_HTTP2_IDLE_TIMEOUT_MS, or idle Subscribe streams lose their connection.');
  }
  if (apiKey === null && config.anthropicBaseUrl !== null) {
    problems.push('ANTHROPIC_BASE_URL is set but ANTHROPIC_API_KEY is not: set the key too, or unset both to use the offline model.');
  }
  if (!INSTANCE_ID.test(config.instanceId)) {
    problems.push('PARLEY_INSTANCE_ID must be 1 to 64 letters, digits, ".", "_", ":" or "-"; unset it to use hostname-pid-random.');
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/** It goes into every log line and into the database: plain, and short. */
const INSTANCE_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/** Host name and pid tell an operator where to look; the random part tells apart restarts that reuse a pid (containers). */
function generatedInstanceId(): string {
  const host = os.hostname().replace(/[^A-Za-z0-9.-]/g, '').slice(0, 40) || 'host';
  return `${host}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

function tenantLimits(raw: string | null, problems: string[]): TenantPolicy {
  if (raw === null) return {};
  const parsed = parsePolicyJson(raw, 'PARLEY_TENANT_LIMITS');
  if ('problems' in parsed) {
    problems.push(...parsed.problems.map((problem) => `${problem}.`));
    return {};
  }
  return parsed.policy;
}
