import { deltaText, type Stream, type SubscriberPool } from './clients.ts';

export type Outcome = 'finished' | 'failed' | 'stream_ended';

/** One subscriber of one conversation, following its (first) prompt to the end. */
export interface Watch {
  readonly stream: Stream;
  /** The snapshot arrived: the subscription is live and a SendMessage now will be seen. */
  readonly snapshot: Promise<void>;
  /** The prompt ended (or the stream did). */
  readonly done: Promise<Outcome>;
  readonly stats: {
    deltas: number;
    chars: number;
    firstDeltaAt: number | null;
    lastDeltaAt: number | null;
    error: string | null;
    outcome: Outcome | null;
  };
}

export function watch(pool: SubscriberPool, conversationId: string, onDelta?: (text: string, receivedAt: number) => void): Watch {
  const stats: Watch['stats'] = { deltas: 0, chars: 0, firstDeltaAt: null, lastDeltaAt: null, error: null, outcome: null };
  let snapshotResolve: () => void = () => undefined;
  let doneResolve: (outcome: Outcome) => void = () => undefined;
  const snapshot = new Promise<void>((resolve) => (snapshotResolve = resolve));
  const done = new Promise<Outcome>((resolve) => (doneResolve = resolve));
  void done.then((outcome) => (stats.outcome = outcome));
  const stream = pool.open(conversationId, (response, at) => {
    switch (response.event.case) {
      case 'snapshot':
        snapshotResolve();
        return;
      case 'promptFinished':
        doneResolve('finished');
        return;
      case 'promptFailed':
        stats.error = response.event.value.error?.message ?? 'prompt failed';
        doneResolve('failed');
        return;
      default: {
        const text = deltaText(response);
        if (text === null) return;
        stats.deltas += 1;
        stats.chars += text.length;
        stats.firstDeltaAt ??= at;
        stats.lastDeltaAt = at;
        onDelta?.(text, at);
      }
    }
  });
  void stream.ended.then((error) => {
    if (error) stats.error ??= `${error.code}: ${error.details}`;
    snapshotResolve();
    doneResolve('stream_ended');
  });
  return { stream, snapshot, done, stats };
}
