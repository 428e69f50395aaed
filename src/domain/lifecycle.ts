// The prompt lifecycle as data: which status a message may move to, on which step, and what a
// step decides. docs/engine.md draws the same table as a diagram. The stores take the statuses
// an update may start from out of this table (`from()`), so a write the table does not allow
// matches no row; test/store/lifecycle.property.test.ts walks every store method against it.
import type { MessageError, MessageStatus, Role, Usage } from './records.ts';
import { messageErrors } from './message-errors.ts';

/** The steps that change a message's status. */
export type Step =
  /** SendMessage stores a new user message. */
  | 'send'
  /** An instance claims a queued user message (its attempt + 1). */
  | 'claim'
  /** CancelPrompt on a message that has not started. */
  | 'cancel'
  /** The running attempt ends: completed, failed or cancelled. */
  | 'finish'
  /** The running instance shuts down and gives the message back. */
  | 'release'
  /** Another instance finds the running attempt's lease expired. */
  | 'lease_expired'
  /** RetryMessage on a failed or cancelled message. */
  | 'retry'
  /** An attempt creates its reply (from no status). */
  | 'start_reply';

export interface Transition {
  role: Role;
  step: Step;
  /** null: the message is created by this step. */
  from: MessageStatus | null;
  to: MessageStatus;
}

const user = (step: Step, from: MessageStatus, to: MessageStatus): Transition => ({ role: 'user', step, from, to });
const reply = (step: Step, from: MessageStatus | null, to: MessageStatus): Transition => ({ role: 'assistant', step, from, to });

/** Every allowed status change. Anything not listed here never happens. */
export const TRANSITIONS: readonly Transition[] = [
  { role: 'user', step: 'send', from: null, to: 'queued' },
  user('claim', 'queued', 'processing'),
  user('cancel', 'queued', 'cancelled'),
  user('finish', 'processing', 'completed'),
  user('finish', 'processing', 'failed'),
  user('finish', 'processing', 'cancelled'),
  user('release', 'processing', 'queued'),
  user('lease_expired', 'processing', 'queued'),
  user('lease_expired', 'processing', 'failed'),
  user('lease_expired', 'processing', 'cancelled'),
  user('retry', 'failed', 'queued'),
  user('retry', 'cancelled', 'queued'),
  reply('start_reply', null, 'processing'),
  reply('finish', 'processing', 'completed'),
  reply('finish', 'processing', 'failed'),
  reply('finish', 'processing', 'cancelled'),
  reply('release', 'processing', 'failed'),
  reply('lease_expired', 'processing', 'failed'),
];

/** Whether `step` may move a message of `role` from `from` to `to`. */
export function allows(role: Role, step: Step, from: MessageStatus | null, to: MessageStatus): boolean {
  return TRANSITIONS.some((t) => t.role === role && t.step === step && t.from === from && t.to === to);
}

/** The statuses `step` may move a message of `role` from (to `to`, when given): a store's guard. */
export function from(role: Role, step: Step, to?: MessageStatus): MessageStatus[] {
  const sources = TRANSITIONS.filter((t) => t.role === role && t.step === step && (to === undefined || t.to === to)).flatMap((t) => (t.from ? [t.from] : []));
  return [...new Set(sources)];
}

/** How an attempt ends, as the prompt runner decided it. */
export interface PromptOutcome {
  status: Extract<MessageStatus, 'completed' | 'failed' | 'cancelled'>;
  error: MessageError | null;
  stopReason: string | null;
  usage: Usage | null;
}

/** What CancelPrompt does to a user message in `status`. */
export function cancelEffect(status: MessageStatus): 'cancel_now' | 'stop_running' | 'not_allowed' {
  if (allows('user', 'cancel', status, 'cancelled')) return 'cancel_now';
  // A running prompt ends through its own `finish` (or lease recovery): asked to stop, not moved.
  if (status === 'processing') return 'stop_running';
  return 'not_allowed';
}

export function canRetry(status: MessageStatus): boolean {
  return allows('user', 'retry', status, 'queued');
}

/** Where a user message goes when its attempt's lease expired. */
export function afterLeaseExpired(lease: { cancelRequested: boolean; attempt: number }, maxAttempts: number): { status: MessageStatus; error: MessageError | null } {
  if (lease.cancelRequested) return { status: 'cancelled', error: messageErrors.cancelled() };
  if (lease.attempt >= maxAttempts) return { status: 'failed', error: messageErrors.attemptsExhausted(maxAttempts) };
  return { status: 'queued', error: null };
}

/**
 * Whether an attempt's reply outlives the attempt when it is given back or its lease expires:
 * only while a client tool call waits on it (or its answer is not in it yet), so that the next
 * attempt picks up the wait instead of asking the model again. Any other reply is failed and
 * stays out of history.
 */
export function replySurvives(reply: { awaitsClient: boolean }): boolean {
  return reply.awaitsClient;
}
