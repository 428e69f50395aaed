import path from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import type { Config } from './config.ts';
import { createLogger, type Logger } from './logger.ts';
import { deadlineInterceptor } from './rpc/deadline.ts';
import { metricsInterceptor } from './rpc/metrics.ts';
import { Metrics } from './observability/metrics.ts';
import { startTracing } from './observability/tracing.ts';
import { traceInterceptor } from './rpc/trace.ts';
import { PromptTelemetry } from './engine/prompt/prompt-telemetry.ts';
import { listenForMetrics } from './server/metrics-route.ts';
import { authInterceptor } from './rpc/auth.ts';
import { errorsInterceptor } from './rpc/errors.ts';
import { logInterceptor } from './rpc/log.ts';
import { PageTokens } from './rpc/page-token.ts';
import { routes } from './rpc/routes.ts';
import { httpHandler } from './server/http-handler.ts';
import { listenFailure } from './server/listen-failure.ts';
import { listen, type Listener } from './server/listener.ts';
import { ClaimLoop } from './engine/claim-loop.ts';
import { ConversationEngine } from './engine/conversation-engine.ts';
import { EventHub } from './engine/event-hub.ts';
import { EventPruner } from './engine/event-pruner.ts';
import { HealthMonitor } from './engine/health-monitor.ts';
import { Authenticator } from './engine/identity/authenticator.ts';
import { checkAuthentication } from './engine/identity/open-check.ts';
import { JwtVerifier } from './engine/identity/jwt-verifier.ts';
import { TenantLimits } from './engine/identity/tenant-limits.ts';
import { BudgetGate } from './engine/prompt/budget-gate.ts';
import { ClientToolWaiter } from './engine/prompt/client-tool-waiter.ts';
import { PromptRunner } from './engine/prompt/prompt-runner.ts';
import { modelEndpoint } from './model/model-endpoint.ts';
import { startEmbeddedPostgres } from './store/embedded-postgres.ts';
import { Notifications } from './store/notifications.ts';
import { closeOrm, migrate, openOrm } from './store/orm.ts';
import { openStores, type Stores } from './store/stores.ts';
import { builtinTools } from './tools/builtin/index.ts';
import { closeToolSources, startMcpSources } from './tools/mcp/index.ts';
import { inNamespace } from './tools/mcp/tool-names.ts';
import { ToolExecutor } from './tools/tool-executor.ts';

export interface App {
  readonly logger: Logger;
  /** The engine's API: what the RPC layer calls. */
  readonly engine: ConversationEngine;
  /** The stores, for tests that set up or check state below the engine. */
  readonly stores: Stores;
  readonly claimLoop: ClaimLoop;
  readonly hub: EventHub;
  readonly metrics: Metrics;
  /** The port /metrics has to itself (PARLEY_METRICS_PORT), once listening; else null. */
  readonly metricsPort: number | null;
  /**
   * Binds the port; resolves with the port actually bound. When it cannot, it first releases
   * everything createApp acquired, then rejects with one sentence saying why.
   */
  listen(): Promise<number>;
  /**
   * Stops claiming work, lets running prompts finish for up to the shutdown grace period, gives
   * the rest back to the queue, stops serving, then releases everything createApp acquired.
   */
  close(): Promise<void>;
}

export interface AppOptions {
  /** Used as it is: the instance id and LOG_LEVEL are then the caller's to set. */
  logger?: Logger;
  /** Where the app's own logger writes its lines (JSON, one per call) instead of stderr. */
  logLines?: (line: string) => void;
  /** Called with each SQL statement the ORM runs (statement counts in tests and benchmarks). */
  onQuery?: (sql: string) => void;
  /** In-process tools to offer instead of the built-ins. */
  tools?: ConstructorParameters<typeof ToolExecutor>[0];
}

/**
 * The composition root: every long-lived object is made here, once, and passed to what needs
 * it. Tests start the real app through this function too.
 */
export async function createApp(config: Config, options: AppOptions = {}): Promise<App> {
  const logger = options.logger ?? createLogger(config.logLevel, options.logLines, { instanceId: config.instanceId });
  const cleanup: Array<() => Promise<void>> = [];
  // Once only: close() after a listen that failed (and released everything) must not stop twice.
  let released: Promise<unknown[]> | null = null;
  const release = () => (released ??= runAll([...cleanup].reverse()));
  // The caller gets the error that stopped the start; what could not be given back is only logged.
  const releaseAfterFailedStart = async () => {
    for (const error of await release()) logger.error('could not release what the failed start had acquired', { error });
  };
  try {
    // First in, last out: the spans of the shutdown itself are exported too.
    const tracing = config.tracing ? await startTracing(process.env, { logger }) : null;
    if (tracing) cleanup.push(() => tracing.shutdown());
    let databaseUrl = config.databaseUrl;
    if (databaseUrl === null) {
      const dataDir = path.resolve(config.dataDir, 'pg');
      logger.info('DATABASE_URL is not set: starting the embedded PostgreSQL', { dataDir });
      const embedded = await startEmbeddedPostgres({
        dataDir,
        persistent: true,
        onLog: (line) => logger.debug(line.trimEnd(), { component: 'postgres' }),
      });
      cleanup.push(() => embedded.stop());
      databaseUrl = embedded.url;
    }

    const metrics = new Metrics();
    await migrate(databaseUrl, logger);
    const orm = await openOrm({ databaseUrl, poolSize: config.databasePoolSize, timeouts: config.databaseTimeouts, onQuery: options.onQuery, logger });
    cleanup.push(() => closeOrm(orm));

    const stores = await openStores(orm, options.onQuery);
    const jwt = config.jwt && new JwtVerifier(config.jwt);
    await jwt?.ready();
    const authenticator = new Authenticator(stores.apiKeys, { mode: config.auth, cacheMs: config.authCacheMs, jwt });
    await checkAuthentication(config, authenticator, logger);
    const notifications = new Notifications(databaseUrl, logger, { keepAliveMs: config.databaseTimeouts.keepAliveMs });
    cleanup.push(() => notifications.close());
    notifications.onReconnect(() => metrics.notifyReconnected());
    await notifications.start();

    const model = await modelEndpoint(
      {
        apiKey: config.anthropicApiKey,
        baseUrl: config.anthropicBaseUrl,
        offlineTokensPerSecond: config.offlineTokensPerSecond,
        offlineContextTokens: config.offlineContextTokens,
      },
      logger,
    );
    cleanup.push(() => model.close());
    const contextWindowTokens = model.offline ? config.offlineContextTokens : config.modelContextTokens;
    // The one Anthropic client of this instance. The SDK retries 429, 529, 5xx and dropped
    // connections before the first token, honouring retry-after.
    const anthropic = new Anthropic({
      apiKey: model.apiKey,
      ...(model.baseURL ? { baseURL: model.baseURL } : {}),
      maxRetries: config.anthropicMaxRetries,
    });

    const hub = new EventHub(
      notifications,
      (conversationId, afterSeq, limit) => stores.snapshots.eventsAfter(conversationId, afterSeq, limit),
      { bufferLimits: { events: config.subscriberBufferEvents, bytes: config.subscriberBufferBytes }, maxSubscribersPerConversation: config.maxSubscribersPerConversation, maxSubscribers: config.maxSubscribers, maxSubscribersPerPrincipal: config.maxSubscribersPerPrincipal, onDeliveryLag: (seconds) => metrics.eventDelivered(seconds) },
      logger,
    );
    cleanup.push(async () => hub.close());

    // MCP servers connect concurrently; one that is down is logged and retried in the background.
    const mcpSources = await startMcpSources(config.mcpServers, { logger });
    cleanup.push(() => closeToolSources(mcpSources));
    const tools = new ToolExecutor(options.tools ?? builtinTools(), { sources: mcpSources, logger });
    const limits = new TenantLimits(stores.limitStore, {
      defaults: config.tenantLimits,
      cacheMs: config.authCacheMs,
      mcpServerOf: (tool) => config.mcpServers.find((server) => inNamespace(server.name, tool))?.name ?? null,
    });
    const telemetry = new PromptTelemetry(metrics, { recordContent: config.traceContent });
    const runner = new PromptRunner({
      conversations: stores.conversations,
      snapshots: stores.snapshots,
      replies: stores.replies,
      clientCalls: stores.clientCalls,
      anthropic,
      tools,
      clientTools: new ClientToolWaiter(stores.clientCalls, notifications, { timeoutMs: config.clientToolTimeoutMs }),
      budget: new BudgetGate(limits, stores.limitStore),
      logger,
      telemetry,
      context: { anthropic, compactions: stores.compactions, windowTokens: contextWindowTokens },
      options: { maxToolRounds: config.maxToolRounds, deltaFlushMs: config.deltaFlushMs, modelIdleTimeoutMs: config.modelIdleTimeoutMs, databaseRetryMs: config.leaseMs, maxBlocksPerMessage: config.maxBlocksPerMessage },
    });
    const claimLoop = new ClaimLoop(
      stores.queue,
      notifications,
      runner.run,
      {
        concurrency: config.maxConcurrentPrompts,
        leaseMs: config.leaseMs,
        pollMs: config.queuePollMs,
        maxAttempts: config.maxPromptAttempts,
        instanceId: config.instanceId,
        onLeasesRecovered: (count) => telemetry.leasesRecovered(count),
      },
      logger,
    );
    claimLoop.start();
    cleanup.push(() => claimLoop.stop());
    const pruner = new EventPruner(stores.eventPruning, { horizonMs: config.eventRetentionMs, everyMs: EVENT_PRUNE_EVERY_MS, batch: EVENT_PRUNE_BATCH }, logger);
    pruner.start();
    cleanup.push(() => pruner.stop());
    metrics.observe({
      queue: () => stores.queue.depth(),
      promptsRunning: () => claimLoop.runningCount,
      subscribers: () => hub.subscriberCount,
      pool: () => stores.poolState(),
    });
    const engine = new ConversationEngine({
      ...stores,
      limits,
      claimLoop,
      hub,
      logger,
      maxQueuedPerConversation: config.maxQueuedPerConversation,
    });

    // Up is not enough: a database that refuses writes (a standby, read-only) serves no sends.
    // One query answers both (it fails when the database is away).
    const health = new HealthMonitor(() => stores.acceptsWrites(), { probeEveryMs: config.healthProbeMs, probeTimeoutMs: HEALTH_PROBE_TIMEOUT_MS });
    cleanup.push(async () => health.close());
    const handler = httpHandler({
      routes: routes({
        health,
        engine,
        settings: {
          defaultModel: config.defaultModel,
          defaultMaxTokens: config.defaultMaxTokens,
          // Tools of an MCP server that is down right now stay valid choices.
          isKnownTool: (name) => tools.mayOffer(name),
          contextWindowTokens,
        },
        maxMessageChars: config.maxMessageChars,
        heartbeatMs: config.heartbeatMs,
        pageTokens: new PageTokens(await stores.serverSecret('page_token')),
      }),
      // The span outermost, so that the log line (next, with the code the caller gets) carries
      // its trace id. Errors next: a failure before the deadline is mapped as always; one after
      // it, when the caller already has deadline_exceeded, is only logged.
      interceptors: [traceInterceptor(), logInterceptor(logger), errorsInterceptor(logger), metricsInterceptor(metrics), authInterceptor(authenticator), deadlineInterceptor({ maxMs: config.requestTimeoutMs, logger })],
      corsOrigins: config.corsOrigins,
      ready: async () => (await health.status()) === 'serving',
      open: { isOpen: () => authenticator.isOpen(), allowedHosts: config.allowedHosts },
      metrics: config.metrics.on === 'service' ? metrics : null,
      logger,
    });

    let listener: Listener | null = null;
    let metricsPort: number | null = null;
    return {
      logger,
      engine,
      stores,
      claimLoop,
      hub,
      metrics,
      get metricsPort() {
        return metricsPort;
      },
      async listen() {
        try {
          listener = await listen(handler, config.host, config.port, config.connections);
        } catch (error) {
          // An app that cannot serve is not closed by its caller, which only exits; the embedded
          // PostgreSQL and MCP server processes would outlive it.
          await releaseAfterFailedStart();
          throw listenFailure(error, config.host, config.port);
        }
        if (config.metrics.on === 'port') {
          try {
            const own = await listenForMetrics(metrics, config.host, config.metrics.port);
            cleanup.push(() => own.close());
            metricsPort = own.port;
            logger.info('Parley serves its metrics on a port of their own', { url: `http://${config.host}:${own.port}/metrics` });
          } catch (error) {
            await listener.close(0);
            await releaseAfterFailedStart();
            throw new Error(listenFailure(error, config.host, config.metrics.port).message.replace('set PORT', 'set PARLEY_METRICS_PORT'), { cause: error });
          }
        }
        logger.info('Parley is serving gRPC, gRPC-Web and Connect', { url: `http://${config.host}:${listener.port}` });
        return listener.port;
      },
      async close() {
        // Load balancers watching health stop sending new calls while the last prompts finish.
        health.startDraining();
        await claimLoop.stop(config.shutdownGraceMs);
        // Subscribers watched the last prompts finish; now their streams end with a status.
        hub.shutDown();
        health.close();
        await listener?.close(STREAM_DRAIN_MS);
        const [failure] = await release();
        if (failure !== undefined) throw failure;
      },
    };
  } catch (error) {
    await releaseAfterFailedStart();
    throw error;
  }
}

/** Event pruning: a round every minute on every instance, 5,000 events per statement. */
const EVENT_PRUNE_EVERY_MS = 60_000;
const EVENT_PRUNE_BATCH = 5_000;

/** A database that has not answered a health probe by then is counted as away. */
const HEALTH_PROBE_TIMEOUT_MS = 2_000;

/** How long open responses get to finish once the port closes, before their connections are cut. */
const STREAM_DRAIN_MS = 2_000;

/**
 * Runs every step even when one fails: an ORM that cannot close must not leave the embedded
 * PostgreSQL, stopped after it, running. Resolves with the failures.
 */
async function runAll(steps: Array<() => Promise<void>>): Promise<unknown[]> {
  const failures: unknown[] = [];
  for (const step of steps) {
    try {
      await step();
    } catch (error) {
      failures.push(error);
    }
  }
  return failures;
}
