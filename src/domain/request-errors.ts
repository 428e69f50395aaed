// The one error type of the engine's API: a code the RPC layer maps to its status, and a
// sentence for the caller. Every text a caller can get back from the engine is made here.
import { describeRefusal, type BudgetRefusal } from './budget.ts';
import type { MessageStatus } from './records.ts';

export type RequestErrorCode = 'unauthenticated' | 'permission_denied' | 'not_found' | 'failed_precondition' | 'resource_exhausted' | 'unavailable';

export class RequestError extends Error {
  readonly code: RequestErrorCode;
  /** When the same request can succeed if sent again (a budget's next window); sent as RetryInfo. */
  readonly retryAfterMs: number | null;
  constructor(code: RequestErrorCode, message: string, retryAfterMs: number | null = null) {
    super(message);
    this.name = 'RequestError';
    this.code = code;
    this.retryAfterMs = retryAfterMs;
  }
}

export const requestErrors = {
  // Neither says which part was wrong: nothing that helps a guesser.
  credentialsRequired: () => new RequestError('unauthenticated', 'credentials required: send authorization: Bearer <API key>'),
  invalidCredentials: () => new RequestError('unauthenticated', 'invalid credentials'),
  conversationNotFound: (id: string) => new RequestError('not_found', `conversation ${id} not found`),
  conversationDeleted: (id: string) => new RequestError('not_found', `conversation ${id} was deleted`),
  userMessageNotFound: (id: string) => new RequestError('not_found', `user message ${id} not found in this conversation`),
  wrongStatus: (id: string, status: MessageStatus, verb: 'cancelled' | 'retried') =>
    new RequestError('failed_precondition', `message ${id} is ${status} and cannot be ${verb}`),
  forkAtUnsettled: (messageId: string, status: MessageStatus) =>
    new RequestError('failed_precondition', `message ${messageId} is ${status}: a conversation can be forked only at a message that has ended`),
  editNotUser: (messageId: string) => new RequestError('failed_precondition', `message ${messageId} is an assistant message: only a user message can be given new text`),
  messageElsewhere: (messageId: string, conversationId: string) =>
    new RequestError('failed_precondition', `message ${messageId} belongs to another conversation than ${conversationId}`),
  messageNotFound: (id: string) => new RequestError('not_found', `message ${id} not found in this conversation`),
  conversationBusy: (conversationId: string, waiting: number) =>
    new RequestError('failed_precondition', `conversation ${conversationId} is busy (${waiting} ${waiting === 1 ? 'message' : 'messages'} running or queued) and the message asked to be refused then; nothing was stored`),
  queueFull: (conversationId: string, limit: number) =>
    new RequestError('resource_exhausted', `conversation ${conversationId} already has ${limit} messages waiting; wait for some to be answered`),
  requestIdReused: (requestId: string, messageId: string) =>
    new RequestError('failed_precondition', `request_id "${requestId}" was already used for message ${messageId} with different text`),
  toolCallNotFound: (toolUseId: string, conversationId: string) =>
    new RequestError('not_found', `no client tool call ${toolUseId} in conversation ${conversationId}`),
  toolCallClosed: (toolUseId: string, status: 'answered' | 'timed_out') =>
    new RequestError(
      'failed_precondition',
      `client tool call ${toolUseId} ${status === 'answered' ? 'was already answered' : 'timed out and was answered with an error'}`,
    ),
  subscriberOverflow: (limit: number, unit: 'events' | 'bytes' = 'events') =>
    new RequestError('resource_exhausted', `the subscriber fell more than ${limit} ${unit} behind; resubscribe with after_seq to continue`),
  // No `:` or `;`, which grpc-js would show percent-encoded.
  eventsPruned: (afterSeq: number) =>
    new RequestError('unavailable', `the events after seq ${afterSeq} are past the retention horizon. Subscribe again (with after_seq) to get a fresh snapshot`),
  /** `holder`: "conversation <id>", "this caller", or "this instance". */
  subscriberLimit: (holder: string, limit: number) =>
    new RequestError(
      'resource_exhausted',
      `${holder} already has ${limit} open subscriptions${holder === 'this instance' ? '' : ' on this instance'}, the most it may have; close one, or retry later`,
    ),
  // No `;` or `:`, which grpc-js would show percent-encoded.
  shuttingDown: () => new RequestError('unavailable', 'the server is shutting down. Subscribe again with after_seq to continue'),
  overBudget: (refusal: BudgetRefusal) => new RequestError('resource_exhausted', describeRefusal(refusal), refusal.retryAfterMs),
  /** `limit`: the tenant's policy that the settings break, naming the field to change. */
  notAllowed: (limit: string) => new RequestError('permission_denied', limit),
  conversationLimit: (limit: number) =>
    new RequestError('resource_exhausted', `this tenant already holds ${limit} conversations, the most it may; delete one first`),
  /** Its caller had gone (deadline or disconnect) and its database work was cancelled. */
  abandoned: () => new RequestError('unavailable', 'the request was given up at its deadline; what it started was rolled back'),
  databaseUnavailable: () => new RequestError('unavailable', 'the database is unreachable or too slow right now; retry shortly'),
} as const;
