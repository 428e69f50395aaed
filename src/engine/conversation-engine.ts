import { traceparentOf } from '../observability/trace-context.ts';
import type { ConversationRecord, MessageRecord, Owner, UsageGrouping, UsageTotal } from '../domain/records.ts';
import { RequestError, requestErrors } from '../domain/request-errors.ts';
import { requestSignal } from '../domain/request-scope.ts';
import type { Logger } from '../logger.ts';
import type { ForkStore } from '../store/fork-store.ts';
import type { ClientCallStore } from '../store/client-call-store.ts';
import type { ConversationPage, ConversationPatch, ConversationStore, NewConversation } from '../store/conversation-store.ts';
import { isDatabaseUnavailable } from '../store/database-unavailable.ts';
import type { QueueStore, TransitionResult } from '../store/queue-store.ts';
import type { SnapshotStore } from '../store/snapshot-store.ts';
import type { UsageStore } from '../store/usage-store.ts';
import type { ClaimLoop } from './claim-loop.ts';
import type { EventHub } from './event-hub.ts';
import { limitsSettings, type TenantLimits } from './identity/tenant-limits.ts';
import { subscribe, type SubscribeRequest, type SubscriptionItem } from './subscribe.ts';

export interface ConversationEngineDeps {
  conversations: ConversationStore;
  snapshots: SnapshotStore;
  queue: QueueStore;
  clientCalls: ClientCallStore;
  forks: ForkStore;
  usage: UsageStore;
  /** Each tenant's budgets and what its conversations may be set to. */
  limits: TenantLimits;
  claimLoop: ClaimLoop;
  hub: EventHub;
  logger: Logger;
  /** Queued plus running user messages a conversation may hold. */
  maxQueuedPerConversation: number;
}

/**
 * The engine's API: every operation a caller can ask for, on plain records. The RPC layer calls
 * this and nothing below it. Every method takes the owner the request acts for (a tenant, or one
 * subject in it); a conversation of another owner does not exist. Failures a caller can act on are RequestErrors (an
 * unreachable database included); anything else is a bug.
 */
export class ConversationEngine {
  readonly #deps: ConversationEngineDeps;

  constructor(deps: ConversationEngineDeps) {
    this.#deps = deps;
  }

  createConversation(owner: Owner, input: NewConversation): Promise<ConversationRecord> {
    return this.#guard('createConversation', async () => {
      const policy = await this.#deps.limits.checkSettings(owner.tenantId, input.settings);
      const limit = policy.conversations;
      if (limit === undefined) return this.#deps.conversations.create(owner, input);
      const created = await this.#deps.conversations.createWithin(owner, input, limit);
      if (!created) throw requestErrors.conversationLimit(limit);
      return created;
    });
  }

  getConversation(owner: Owner, id: string): Promise<{ conversation: ConversationRecord; messages: MessageRecord[] }> {
    return this.#guard('getConversation', async () => {
      const conversation = await this.#deps.conversations.get(owner, id);
      const messages = conversation && (await this.#deps.snapshots.messages(owner, id));
      if (!conversation || !messages) throw requestErrors.conversationNotFound(id);
      return { conversation, messages };
    });
  }

  listConversations(owner: Owner, limit: number, afterId: string | null): Promise<ConversationPage> {
    return this.#guard('listConversations', () => this.#deps.conversations.list(owner, limit, afterId));
  }

  updateConversation(owner: Owner, id: string, patch: ConversationPatch): Promise<ConversationRecord> {
    return this.#guard('updateConversation', async () => {
      if (patch.settings) await this.#deps.limits.checkSettings(owner.tenantId, patch.settings);
      return (await this.#deps.conversations.update(owner, id, patch)) ?? notFound(id);
    });
  }

  /**
   * Copies the conversation's history up to and including one message into a new conversation;
   * with text, that (user) message is replaced by it and queued there: edit and resend.
   */
  forkConversation(owner: Owner, id: string, input: { messageId: string; text: string | null; title: string | null }): Promise<{ conversation: ConversationRecord; queued: MessageRecord | null }> {
    return this.#guard('forkConversation', async () => {
      const policy = await this.#admissible(owner, id);
      const result = await this.#deps.forks.fork(owner, id, { ...input, maxConversations: policy.conversations ?? null });
      switch (result.kind) {
        case 'not_found':
          return notFound(id);
        case 'message_not_found':
          throw requestErrors.messageNotFound(input.messageId);
        case 'other_conversation':
          throw requestErrors.messageElsewhere(input.messageId, id);
        case 'busy':
          throw requestErrors.forkAtUnsettled(input.messageId, result.status);
        case 'not_user':
          throw requestErrors.editNotUser(input.messageId);
        case 'conversation_limit':
          throw requestErrors.conversationLimit(result.limit);
        case 'forked': {
          const conversation = (await this.#deps.conversations.get(owner, result.conversationId)) ?? notFound(result.conversationId);
          return { conversation, queued: result.queued };
        }
      }
    });
  }

  /** Deletes the conversation with everything in it; a prompt running in it stops. */
  deleteConversation(owner: Owner, id: string): Promise<void> {
    return this.#guard('deleteConversation', async () => {
      if (!(await this.#deps.conversations.delete(owner, id))) notFound(id);
    });
  }

  /**
   * Queues a user message, within the tenant's budgets. With a request id, sending the same
   * text again returns the first message.
   */
  sendMessage(owner: Owner, conversationId: string, input: { text: string; requestId: string | null; rejectIfBusy?: boolean }): Promise<MessageRecord> {
    return this.#guard('sendMessage', async () => {
      const budgets = await this.#admissible(owner, conversationId);
      const result = await this.#deps.queue.enqueue(owner, conversationId, {
        ...input,
        maxQueued: this.#deps.maxQueuedPerConversation,
        budgets,
        // The prompt that answers it, later and maybe elsewhere, links its trace to this request's.
        traceparent: traceparentOf(),
      });
      switch (result.kind) {
        case 'not_found':
          return notFound(conversationId);
        case 'queue_full':
          throw requestErrors.queueFull(conversationId, result.limit);
        case 'busy':
          throw requestErrors.conversationBusy(conversationId, result.waiting);
        case 'request_id_reused':
          throw requestErrors.requestIdReused(input.requestId ?? '', result.message.id);
        case 'over_budget':
          throw requestErrors.overBudget(result.refusal);
        case 'queued':
          return result.message;
      }
    });
  }

  /** Cancels a queued message at once, or stops its running prompt (which then ends cancelled). */
  cancelPrompt(owner: Owner, conversationId: string, messageId: string): Promise<MessageRecord> {
    return this.#guard('cancelPrompt', async () => {
      const message = transitioned(await this.#deps.queue.cancel(owner, conversationId, messageId), messageId, 'cancelled');
      this.#deps.claimLoop.cancelLocal(messageId);
      return message;
    });
  }

  /** Queues a failed or cancelled message again. */
  retryMessage(owner: Owner, conversationId: string, messageId: string): Promise<MessageRecord> {
    return this.#guard('retryMessage', async () => {
      const budgets = await this.#admissible(owner, conversationId);
      const result = await this.#deps.queue.requeue(owner, conversationId, messageId, budgets, traceparentOf());
      if (result.kind === 'over_budget') throw requestErrors.overBudget(result.refusal);
      return transitioned(result, messageId, 'retried');
    });
  }

  /**
   * The tenant's policy, for the queue to count the budgets against, once the conversation's
   * settings are known to be allowed still (the policy may have changed since they were set).
   */
  async #admissible(owner: Owner, conversationId: string) {
    const policy = await this.#deps.limits.policy(owner.tenantId);
    if (limitsSettings(policy)) {
      const conversation = (await this.#deps.conversations.get(owner, conversationId)) ?? notFound(conversationId);
      await this.#deps.limits.checkSettings(owner.tenantId, conversation.settings);
    }
    return policy;
  }

  /** The calling service's answer to a client tool call. */
  submitToolResult(owner: Owner, conversationId: string, toolUseId: string, result: { content: string; isError: boolean }): Promise<void> {
    return this.#guard('submitToolResult', async () => {
      const submitted = await this.#deps.clientCalls.submit(owner, conversationId, toolUseId, result);
      if (submitted.kind === 'not_found') throw requestErrors.toolCallNotFound(toolUseId, conversationId);
      if (submitted.kind === 'already') throw requestErrors.toolCallClosed(toolUseId, submitted.status);
    });
  }

  /** Token usage of the owner's model requests that ended in [from, to), per day and model. */
  getUsage(owner: Owner, from: Date, to: Date, grouping: UsageGrouping): Promise<UsageTotal[]> {
    return this.#guard('getUsage', () => this.#deps.usage.totals(owner, from, to, grouping));
  }

  /** A snapshot (or the events missed since `afterSeq`), then every event as it happens. */
  async *subscribe(request: SubscribeRequest): AsyncGenerator<SubscriptionItem> {
    try {
      yield* subscribe(this.#deps.hub, this.#deps.snapshots, request);
    } catch (error) {
      throw this.#unavailable('subscribe', error);
    }
  }

  async #guard<T>(operation: string, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      throw this.#unavailable(operation, error);
    }
  }

  /** An unreachable database says nothing about the request: the caller may retry. */
  #unavailable(operation: string, error: unknown): unknown {
    if (error instanceof RequestError || !isDatabaseUnavailable(error)) return error;
    // The request's own statement, cancelled because its caller has gone: the database is fine.
    if (requestSignal()?.aborted) return requestErrors.abandoned();
    this.#deps.logger.warn('request failed: database unreachable', { operation });
    return requestErrors.databaseUnavailable();
  }
}

function notFound(conversationId: string): never {
  throw requestErrors.conversationNotFound(conversationId);
}

function transitioned(result: TransitionResult, messageId: string, verb: 'cancelled' | 'retried'): MessageRecord {
  if (result.kind === 'not_found') throw requestErrors.userMessageNotFound(messageId);
  if (result.kind === 'wrong_status') throw requestErrors.wrongStatus(messageId, result.status, verb);
  return result.message;
}
