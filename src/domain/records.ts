// The plain shapes every layer shares: the store reads and writes them, the engine works on
// them, the RPC layer maps them to protobuf. MikroORM entities never leave src/store.

import type { ContextPolicy } from './context-policy.ts';
import type { ThinkingSettings } from './model-thinking.ts';

/** Lifecycle status of a message. See docs/engine.md for the transitions. */
export type MessageStatus = 'queued' | 'processing' | 'completed' | 'failed' | 'cancelled';

export type Role = 'user' | 'assistant';

/** A client tool: the calling service fulfils it through SubmitToolResult. */
export interface ClientToolDefinition {
  name: string;
  description: string;
  /** JSON Schema of the tool's input object. */
  inputSchema: Record<string, unknown>;
}

export interface ConversationSettings {
  /** Anthropic model name; never empty once stored (defaults are applied on create). */
  model: string;
  systemPrompt: string;
  maxTokens: number;
  /** 0 disables extended thinking. */
  thinkingBudgetTokens: number;
  enabledTools: string[];
  clientTools: ClientToolDefinition[];
  /** How a history that outgrows the model's window is made to fit. */
  context: ContextPolicy;
  /** Adaptive thinking and effort; with mode 'budget', thinkingBudgetTokens decides. */
  thinking: ThinkingSettings;
}

/**
 * Whose conversations a request may see: a tenant's, or only those of one subject (an end user)
 * inside it. A subject's conversation belongs to its tenant too.
 */
export interface Owner {
  tenantId: string;
  /** null: every conversation of the tenant. */
  subjectId: string | null;
}

export interface ConversationRecord {
  id: string;
  ownerId: string;
  /** The subject that created it, when a subject did. */
  subjectId: string | null;
  title: string;
  settings: ConversationSettings;
  createdAt: Date;
  updatedAt: Date;
}

/**
 * Block content, shaped after the Messages API's content blocks so the history builder maps
 * them one to one. Thinking text and signatures are stored byte for byte.
 */
export type BlockContent =
  | { type: 'text'; text: string }
  | { type: 'thinking'; thinking: string; signature: string }
  | { type: 'redacted_thinking'; data: string }
  | { type: 'tool_use'; id: string; name: string; input: Record<string, unknown> }
  | { type: 'tool_result'; toolUseId: string; content: string; isError: boolean };

export interface MessageError {
  /** Machine-readable reason, e.g. "model_overloaded". */
  code: string;
  /** A sentence a user can read. */
  message: string;
  /** For a refusal: the API's category and explanation, where it gave them. */
  refusal?: { category: string | null; explanation: string | null };
}

export interface Usage {
  inputTokens: number;
  outputTokens: number;
  cacheCreationInputTokens: number;
  cacheReadInputTokens: number;
}

export interface MessageRecord {
  id: string;
  conversationId: string;
  role: Role;
  status: MessageStatus;
  /** Blocks in order; index in this array is the block's position. */
  blocks: BlockContent[];
  error: MessageError | null;
  /** Assistant messages: the user message answered. */
  replyToId: string | null;
  /** Assistant messages. */
  stopReason: string | null;
  /** Assistant messages. */
  model: string | null;
  /** Assistant messages. */
  usage: Usage | null;
  /** User messages: position in the queue when accepted. */
  queuePosition: number;
  /** User messages: the caller's idempotency key. */
  requestId: string | null;
  createdAt: Date;
  updatedAt: Date;
  startedAt: Date | null;
  endedAt: Date | null;
}

/** A user message claimed by an instance: the fence for every write of its prompt. */
export interface Claim {
  ownerId: string;
  conversationId: string;
  messageId: string;
  attempt: number;
  /** W3C `traceparent` of the request that queued (or retried) the message, when it was traced. */
  traceparent: string | null;
}

/** A client tool call still waiting for the calling service's answer. */
export interface AwaitingClientCall {
  messageId: string;
  toolUseId: string;
  name: string;
  input: Record<string, unknown>;
  deadline: Date;
}

/** The state of one client tool call, as the prompt waiting for it reads it. */
export interface ClientCallState {
  toolUseId: string;
  status: 'awaiting' | 'answered' | 'timed_out';
  deadline: Date;
  content: string | null;
  isError: boolean;
  createdAt: Date;
  answeredAt: Date | null;
}

/** A conversation whole, as of one event: what a subscription starts from. */
export interface ConversationSnapshot {
  conversation: ConversationRecord;
  messages: MessageRecord[];
  awaitingClient: AwaitingClientCall[];
  /** The seq of the last event this state reflects. */
  seq: number;
}

/** One model request of a prompt (an attempt's tool round), as the usage ledger keeps it. */
export interface ModelRequestUsage {
  tenantId: string;
  subjectId: string | null;
  conversationId: string;
  /** The user message answered, and the reply being written. */
  messageId: string;
  replyId: string;
  attempt: number;
  round: number;
  model: string;
  usage: Usage;
  webSearchRequests: number;
  stopReason: string | null;
  startedAt: Date;
  endedAt: Date;
}

/** Usage totals are per day and model, and also per conversation or per subject. */
export type UsageGrouping = 'none' | 'conversation' | 'subject';

/** The usage of a group of model requests. */
export interface UsageTotal {
  /** YYYY-MM-DD, UTC. */
  day: string;
  model: string;
  conversationId: string | null;
  subjectId: string | null;
  modelRequests: number;
  inputTokens: number;
  outputTokens: number;
  cacheCreationInputTokens: number;
  cacheReadInputTokens: number;
  webSearchRequests: number;
}
