import type { ToolCallKind } from '../../domain/events.ts';
import type { PromptSlot } from '../claim-loop.ts';
import type { BlockContent, Claim } from '../../domain/records.ts';
import type { ClientCallStore } from '../../store/client-call-store.ts';
import type { ToolExecutor } from '../../tools/tool-executor.ts';
import type { ClientToolWaiter } from './client-tool-waiter.ts';
import type { AttemptTelemetry } from './prompt-telemetry.ts';
import { ReplyTooLong, type ReplyWriter } from './reply-writer.ts';

/** The tools one prompt may call: run here (built-in, MCP) or answered by the calling service. */
export interface PromptTools {
  executor: ToolExecutor;
  clientTools: ClientToolWaiter;
  clientCalls: ClientCallStore;
  /** Names of the conversation's client tools. */
  clientToolNames: ReadonlySet<string>;
  /** The prompt's place in the instance's concurrency, given up while it waits on the client. */
  slot: PromptSlot;
  /** A span and the metrics of each call. */
  telemetry: AttemptTelemetry;
}

/** Who answers a call to `name`. */
export function toolCallKind(tools: PromptTools, name: string): ToolCallKind {
  return tools.clientToolNames.has(name) ? 'client' : (tools.executor.kindOf(name) ?? 'server');
}

/**
 * Answers every tool call of the reply that has no result yet: server calls run here, client
 * calls wait for the caller. Results are written in the order of the calls, as the Messages API
 * requires. Does nothing when no call is open.
 */
export async function runToolRound(claim: Claim, writer: ReplyWriter, tools: PromptTools, signal: AbortSignal): Promise<void> {
  const blocks = writer.reply.blocks;
  const calls = blocks.flatMap((block, position) => (block.type === 'tool_use' && !answered(blocks, block.id, position) ? [block] : []));
  if (calls.length === 0) return;
  // Checked before running anything: a tool's effect must not happen for a result that
  // could not be stored.
  if (!writer.fits(calls.length)) throw new ReplyTooLong(writer.maxBlocks);
  const serverCalls = calls.filter((call) => !tools.clientToolNames.has(call.name));
  const clientCalls = calls.filter((call) => tools.clientToolNames.has(call.name));
  writer.events(serverCalls.map((call) => ({ type: 'tool_call_started', messageId: writer.replyId, toolUseId: call.id })));
  await writer.settle();
  const watches = new Map(calls.map((call) => [call.id, tools.telemetry.toolCall(call, toolCallKind(tools, call.name))]));
  const [serverOutcomes, clientOutcomes] = await Promise.all([
    tools.executor.executeAll(
      serverCalls.map((call) => ({ id: call.id, name: call.name, input: call.input })),
      { signal, conversationId: claim.conversationId },
    ),
    tools.clientTools.wait(
      claim,
      writer.replyId,
      clientCalls.map((call) => ({ ...call, traceparent: watches.get(call.id)?.traceparent ?? null })),
      signal,
      tools.slot,
    ),
  ]);
  signal.throwIfAborted();
  const outcomes = new Map([...serverCalls.map((call, i) => [call.id, serverOutcomes[i]!] as const), ...clientCalls.map((call, i) => [call.id, clientOutcomes[i]!] as const)]);
  const results = calls.map((call) => ({ call, outcome: outcomes.get(call.id)! }));
  for (const { call, outcome } of results) watches.get(call.id)?.ended(outcome);
  writer.append(
    results.map(({ call, outcome }) => ({ type: 'tool_result', toolUseId: call.id, content: outcome.content, isError: outcome.isError })),
    results.map(({ call, outcome }) => ({
      type: 'tool_call_finished',
      messageId: writer.replyId,
      toolUseId: call.id,
      content: outcome.content,
      isError: outcome.isError,
      durationMs: Math.round(outcome.durationMs),
    })),
  );
  await writer.settle();
  if (clientCalls.length > 0) await tools.clientCalls.markApplied(clientCalls.map((call) => call.id));
}

function answered(blocks: BlockContent[], toolUseId: string, after: number): boolean {
  return blocks.some((block, i) => i > after && block.type === 'tool_result' && block.toolUseId === toolUseId);
}
