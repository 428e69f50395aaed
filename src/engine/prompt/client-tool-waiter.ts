import { clientToolResults } from '../../domain/message-errors.ts';
import type { Claim, ClientCallState } from '../../domain/records.ts';
import { TOOL_RESULT_CHANNEL } from '../../store/channels.ts';
import type { PromptSlot } from '../claim-loop.ts';
import type { ClientCallStore } from '../../store/client-call-store.ts';
import type { Notifications } from '../../store/notifications.ts';
import type { ToolOutcome } from '../../tools/types.ts';
import { PromptStopped } from './prompt-stopped.ts';

/** Re-reads call states this often even without a notification (one may be lost). */
const SAFETY_POLL_MS = 2_000;

/**
 * Waits for the caller's answers to client tool calls. The wait is rows in the database: the
 * answer may arrive on any instance, and a later attempt of the prompt (after a restart) picks
 * up the same calls, deadlines included.
 */
export class ClientToolWaiter {
  readonly #store: ClientCallStore;
  readonly #notifications: Notifications;
  readonly #timeoutMs: number;

  constructor(store: ClientCallStore, notifications: Notifications, options: { timeoutMs: number }) {
    this.#store = store;
    this.#notifications = notifications;
    this.#timeoutMs = options.timeoutMs;
  }

  async wait(
    claim: Claim,
    replyId: string,
    calls: Array<{ id: string; name: string; input: Record<string, unknown>; traceparent?: string | null }>,
    signal: AbortSignal,
    slot: PromptSlot,
  ): Promise<ToolOutcome[]> {
    if (calls.length === 0) return [];
    const ids = calls.map((call) => call.id);
    let wake: () => void = () => undefined;
    const unsubscribe = this.#notifications.on(TOOL_RESULT_CHANNEL, (toolUseId) => {
      if (ids.includes(toolUseId)) wake();
    });
    // The wait may last minutes: another conversation's prompt runs in this one's place meanwhile.
    slot.park();
    try {
      let states = await this.#store.open(claim, replyId, calls, this.#timeoutMs);
      if (!states) throw new PromptStopped('lease_lost');
      for (;;) {
        if (states.every((state) => state.status !== 'awaiting')) return ids.map((id) => outcomeOf(states!.find((s) => s.toolUseId === id)));
        signal.throwIfAborted();
        const nextDeadline = Math.min(...states.filter((s) => s.status === 'awaiting').map((s) => s.deadline.getTime()));
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, Math.max(10, Math.min(SAFETY_POLL_MS, nextDeadline - Date.now() + 10)));
          signal.addEventListener('abort', done, { once: true });
          wake = done;
          function done() {
            clearTimeout(timer);
            signal.removeEventListener('abort', done);
            resolve();
          }
        });
        signal.throwIfAborted();
        states = await this.#store.states(ids);
      }
    } finally {
      unsubscribe();
      // Goes on only once a place is free: parked prompts must not all run at once.
      await slot.resume(signal);
    }
  }
}

function outcomeOf(state: ClientCallState | undefined): ToolOutcome {
  if (!state) return { content: clientToolResults.lost(), isError: true, durationMs: 0 };
  const durationMs = Math.max(0, (state.answeredAt ?? new Date()).getTime() - state.createdAt.getTime());
  if (state.status === 'timed_out') {
    return { content: clientToolResults.timedOut(state.deadline.getTime() - state.createdAt.getTime()), isError: true, durationMs };
  }
  return { content: state.content ?? '', isError: state.isError, durationMs };
}
