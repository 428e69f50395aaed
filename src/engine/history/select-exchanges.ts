// Which stored messages reach the model. The rule is documented at the top of build-history.ts;
// this module is its only implementation.

import type { MessageRecord } from '../../domain/records.ts';
import { HistoryInputError } from './history-input-error.ts';

/** A user message and the one assistant message that answers it in the history (if any). */
export interface Exchange {
  user: MessageRecord;
  reply: MessageRecord | null;
}

interface SelectedHistory {
  /** Earlier completed exchanges, in creation order. */
  past: Exchange[];
  /** The message being answered now and its reply in progress. */
  current: Exchange;
}

export function selectExchanges(messages: readonly MessageRecord[], currentMessageId: string): SelectedHistory {
  const currentIndex = messages.findIndex((m) => m.id === currentMessageId);
  const current = messages[currentIndex];
  if (current === undefined) {
    throw new HistoryInputError(`message ${currentMessageId} is not in the conversation`);
  }
  if (current.role !== 'user') {
    throw new HistoryInputError(`message ${currentMessageId} is an assistant message, not a prompt`);
  }

  // Later entries overwrite earlier ones, so each map ends up holding the latest attempt in
  // creation order: a retry that completed after an earlier completed attempt replaces it.
  const completedReplies = new Map<string, MessageRecord>();
  let inProgress: MessageRecord | null = null;
  for (const m of messages) {
    if (m.role !== 'assistant' || m.replyToId === null) continue;
    if (m.status === 'completed') completedReplies.set(m.replyToId, m);
    if (m.status === 'processing' && m.replyToId === current.id) inProgress = m;
  }

  const past: Exchange[] = [];
  for (const m of messages.slice(0, currentIndex)) {
    if (m.role !== 'user' || m.status !== 'completed') continue;
    past.push({ user: m, reply: completedReplies.get(m.id) ?? null });
  }

  return { past, current: { user: current, reply: inProgress } };
}
