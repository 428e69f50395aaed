// Checks and small helpers shared by the fault tests.
import { repliesTo, textOf, type StoredMessage } from '../../support/conversation.ts';
import { scriptedReply, type ScriptOptions } from './scripted-model.ts';

const TERMINAL = new Set(['MESSAGE_STATUS_COMPLETED', 'MESSAGE_STATUS_FAILED', 'MESSAGE_STATUS_CANCELLED']);

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` every 20 ms until it is true or `timeoutMs` passed; returns the last result. */
export async function until(check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await sleep(20);
  }
}

/** GetConversation's messages as proto3 JSON carry their timestamps as RFC 3339 strings. */
export type Timed = StoredMessage & { createTime?: string; endTime?: string };

export function millis(timestamp: string | undefined): number {
  return timestamp === undefined ? NaN : Date.parse(timestamp);
}

/** The text streamed so far into the first reply to `userId`. */
export function firstReplyText(messages: StoredMessage[], userId: string): string {
  const reply = repliesTo(messages, userId)[0];
  return reply ? textOf(reply) : '';
}

export function stats(values: number[]): string {
  if (values.length === 0) return 'n/a';
  const sorted = [...values].sort((a, b) => a - b);
  return `min ${sorted[0]} / median ${sorted[Math.floor(sorted.length / 2)]} / max ${sorted.at(-1)} ms (n=${sorted.length})`;
}

/**
 * Every problem found in the final state of one conversation (empty: all good): each question
 * stored once and in order; each ended COMPLETED or FAILED with a reason; exactly one completed
 * answer per completed question and none for a failed one; each completed answer exactly the
 * scripted text; each failed attempt a prefix of it (nothing from two attempts mixed).
 */
export function auditConversation(
  tag: string,
  messages: StoredMessage[],
  sentQuestions: string[],
  script: ScriptOptions,
): string[] {
  const problems: string[] = [];
  const users = messages.filter((m) => m.role === 'ROLE_USER');
  const texts = users.map(textOf);
  if (JSON.stringify(texts) !== JSON.stringify(sentQuestions)) {
    problems.push(`${tag}: stored questions ${JSON.stringify(texts)} differ from those sent ${JSON.stringify(sentQuestions)}`);
  }
  for (const user of users) {
    const q = textOf(user);
    if (user.status !== 'MESSAGE_STATUS_COMPLETED' && user.status !== 'MESSAGE_STATUS_FAILED') {
      problems.push(`${q}: ended ${user.status}`);
    }
    if (user.status === 'MESSAGE_STATUS_FAILED' && !(user.error?.code && user.error.message)) {
      problems.push(`${q}: FAILED without a reason: ${JSON.stringify(user.error)}`);
    }
    const replies = repliesTo(messages, user.id);
    const completed = replies.filter((r) => r.status === 'MESSAGE_STATUS_COMPLETED');
    const expectedCompleted = user.status === 'MESSAGE_STATUS_COMPLETED' ? 1 : 0;
    if (completed.length !== expectedCompleted) {
      problems.push(`${q}: ${completed.length} COMPLETED replies for a ${user.status} message`);
    }
    const scripted = scriptedReply(q, script).text;
    for (const reply of completed) {
      if (textOf(reply) !== scripted) problems.push(`${q}: completed reply "${textOf(reply)}" is not the scripted "${scripted}"`);
    }
    for (const reply of replies) {
      if (!TERMINAL.has(reply.status)) problems.push(`${q}: reply ${reply.id} left ${reply.status}`);
      if (reply.status === 'MESSAGE_STATUS_FAILED') {
        if (!(reply.error?.code && reply.error.message)) problems.push(`${q}: failed reply without a reason`);
        // What a dead attempt streamed is a prefix of its scripted answer: nothing mixed in.
        if (!scripted.startsWith(textOf(reply))) problems.push(`${q}: failed reply "${textOf(reply)}" is not a prefix of the scripted answer`);
      }
    }
  }
  return problems;
}

