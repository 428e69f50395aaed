// What a prompt tells operators as it runs: the metrics (counted once, here) and the spans of
// the OpenTelemetry GenAI conventions (an agent invocation per attempt, a `chat` per model
// request, an `execute_tool` per tool call). The prompt runner calls these verbs; it knows
// neither prom-client nor the tracing API.
import { context, isSpanContextValid, SpanKind, SpanStatusCode, trace, type Context, type Span } from '@opentelemetry/api';
import type { Message as ApiMessage, MessageCreateParamsBase } from '@anthropic-ai/sdk/resources/messages';
import type { PromptOutcome } from '../../domain/lifecycle.ts';
import type { Claim } from '../../domain/records.ts';
import { withTraceId } from '../../log-context.ts';
import type { Metrics } from '../../observability/metrics.ts';
import { linkTo, traceparentOf, tracer } from '../../observability/trace-context.ts';
import type { ToolCallKind } from '../../domain/events.ts';
import type { ToolOutcome } from '../../tools/types.ts';

export interface PromptTelemetryOptions {
  /** Record messages, tool inputs and results on spans (off by default: they are user data). */
  recordContent: boolean;
}

/** One model request as it runs. */
export interface ModelRequestWatch {
  /** The first content streamed in. */
  firstToken(): void;
  ended(final: ApiMessage): void;
  failed(outcome: string, error: unknown): void;
}

/** One tool call as it runs. */
export interface ToolCallWatch {
  /** The call's trace context, for a client that answers it to join the trace. */
  readonly traceparent: string | null;
  ended(outcome: ToolOutcome): void;
}

/** Makes the telemetry of each attempt. One per instance. */
export class PromptTelemetry {
  readonly #metrics: Metrics | null;
  readonly #options: PromptTelemetryOptions;

  constructor(metrics: Metrics | null, options: PromptTelemetryOptions) {
    this.#metrics = metrics;
    this.#options = options;
  }

  /**
   * An attempt's span: a new trace's root (the prompt runs apart from the request that queued
   * it, maybe much later), linked to the span of that request.
   */
  attempt(claim: Claim, traceparent: string | null): AttemptTelemetry {
    const span = tracer.startSpan('invoke_agent parley', {
      kind: SpanKind.INTERNAL,
      root: true,
      links: linkTo(traceparent),
      attributes: {
        'gen_ai.operation.name': 'invoke_agent',
        'gen_ai.provider.name': 'anthropic',
        'gen_ai.agent.name': 'parley',
        'gen_ai.conversation.id': claim.conversationId,
        'parley.message.id': claim.messageId,
        'parley.attempt': claim.attempt,
      },
    });
    return new AttemptTelemetry(span, this.#metrics, this.#options);
  }

  leasesRecovered(count: number): void {
    if (count > 0) this.#metrics?.leasesRecovered(count);
  }
}

/** The telemetry of one attempt at a prompt. */
export class AttemptTelemetry {
  readonly #span: Span;
  readonly #context: Context;
  readonly #metrics: Metrics | null;
  readonly #options: PromptTelemetryOptions;
  readonly #startedAt = performance.now();
  #ended = false;

  constructor(span: Span, metrics: Metrics | null, options: PromptTelemetryOptions) {
    this.#span = span;
    this.#context = trace.setSpan(context.active(), span);
    this.#metrics = metrics;
    this.#options = options;
  }

  /** Runs the attempt inside its span: what it logs carries the trace id. */
  run<T>(work: () => Promise<T>): Promise<T> {
    const traced = isSpanContextValid(this.#span.spanContext());
    return traced ? withTraceId(this.#span.spanContext().traceId, () => context.with(this.#context, work)) : context.with(this.#context, work);
  }

  modelRequest(request: MessageCreateParamsBase): ModelRequestWatch {
    const model = request.model;
    const span = tracer.startSpan(
      `chat ${model}`,
      {
        kind: SpanKind.CLIENT,
        attributes: {
          'gen_ai.operation.name': 'chat',
          'gen_ai.provider.name': 'anthropic',
          'gen_ai.request.model': model,
          'gen_ai.request.max_tokens': request.max_tokens,
          ...(this.#options.recordContent ? { 'gen_ai.input.messages': JSON.stringify(request.messages), ...(request.system ? { 'gen_ai.system_instructions': JSON.stringify(request.system) } : {}) } : {}),
        },
      },
      this.#context,
    );
    const startedAt = performance.now();
    let firstTokenAt: number | null = null;
    const seconds = (since: number) => (performance.now() - since) / 1000;
    return {
      firstToken: () => {
        firstTokenAt ??= performance.now();
      },
      ended: (final) => {
        const usage = final.usage;
        span.setAttributes({
          'gen_ai.response.id': final.id,
          'gen_ai.response.model': final.model,
          'gen_ai.response.finish_reasons': final.stop_reason === null ? [] : [final.stop_reason],
          'gen_ai.usage.input_tokens': usage.input_tokens,
          'gen_ai.usage.output_tokens': usage.output_tokens,
          'gen_ai.usage.cache_read.input_tokens': usage.cache_read_input_tokens ?? 0,
          'gen_ai.usage.cache_creation.input_tokens': usage.cache_creation_input_tokens ?? 0,
          ...(this.#options.recordContent ? { 'gen_ai.output.messages': JSON.stringify([{ role: 'assistant', content: final.content }]) } : {}),
        });
        span.end();
        this.#metrics?.modelRequestEnded(model, 'ok', seconds(startedAt), firstTokenAt === null ? null : (firstTokenAt - startedAt) / 1000);
        this.#metrics?.tokensUsed(model, {
          input: usage.input_tokens,
          output: usage.output_tokens,
          cache_read: usage.cache_read_input_tokens ?? 0,
          cache_write: usage.cache_creation_input_tokens ?? 0,
        });
      },
      failed: (outcome, error) => {
        span.setAttribute('error.type', outcome);
        span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
        span.end();
        this.#metrics?.modelRequestEnded(model, outcome, seconds(startedAt), firstTokenAt === null ? null : (firstTokenAt - startedAt) / 1000);
      },
    };
  }

  toolCall(call: { id: string; name: string; input: Record<string, unknown> }, kind: ToolCallKind): ToolCallWatch {
    const span = tracer.startSpan(
      `execute_tool ${call.name}`,
      {
        kind: kind === 'client' ? SpanKind.CLIENT : SpanKind.INTERNAL,
        attributes: {
          'gen_ai.operation.name': 'execute_tool',
          'gen_ai.tool.name': call.name,
          'gen_ai.tool.call.id': call.id,
          'gen_ai.tool.type': kind === 'server' ? 'function' : 'extension',
          'parley.tool.kind': kind,
          ...(this.#options.recordContent ? { 'gen_ai.tool.call.arguments': JSON.stringify(call.input) } : {}),
        },
      },
      this.#context,
    );
    return {
      traceparent: traceparentOf(trace.setSpan(this.#context, span)),
      ended: (outcome) => {
        if (this.#options.recordContent) span.setAttribute('gen_ai.tool.call.result', outcome.content);
        if (outcome.isError) {
          span.setAttribute('error.type', 'tool_error');
          span.setStatus({ code: SpanStatusCode.ERROR });
        }
        span.end();
        // Client calls are counted, not timed: their time is the caller's, not Parley's.
        this.#metrics?.toolCallEnded(call.name, outcome.isError ? 'error' : 'ok', kind === 'client' ? null : outcome.durationMs / 1000);
      },
    };
  }

  /** The attempt found its lease taken over, and stopped. */
  leaseLost(): void {
    this.#metrics?.leaseLost();
    this.#stopped('lease_lost');
  }

  /** A write of the attempt was refused: its claim no longer held. */
  fenced(): void {
    this.#metrics?.fencingRejected();
    this.#span.addEvent('write refused: the claim no longer holds');
  }

  /** The attempt gave the message back to the queue (shutdown, database away). */
  released(): void {
    this.#stopped('released');
  }

  /** The attempt ended with `outcome`, written. */
  ended(outcome: PromptOutcome): void {
    if (this.#ended) return;
    this.#span.setAttribute('parley.prompt.status', outcome.status);
    if (outcome.stopReason) this.#span.setAttribute('gen_ai.response.finish_reasons', [outcome.stopReason]);
    if (outcome.usage) {
      this.#span.setAttributes({ 'gen_ai.usage.input_tokens': outcome.usage.inputTokens, 'gen_ai.usage.output_tokens': outcome.usage.outputTokens });
    }
    if (outcome.status === 'failed') {
      this.#span.setAttribute('error.type', outcome.error?.code ?? 'failed');
      this.#span.setStatus({ code: SpanStatusCode.ERROR, message: outcome.error?.message ?? 'failed' });
    }
    this.#end();
    this.#metrics?.promptEnded(outcome.status, outcome.error?.code ?? null, (performance.now() - this.#startedAt) / 1000);
  }

  /** The attempt is over; a no-op if it ended in one of the ways above. */
  abandoned(): void {
    this.#end();
  }

  #stopped(how: 'lease_lost' | 'released'): void {
    if (this.#ended) return;
    this.#span.setAttribute('parley.prompt.stop', how);
    this.#end();
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#span.end();
  }
}
