import { Code, ConnectError, type CallOptions, type Client } from '@connectrpc/connect';
import type { ConversationService, SubscribeResponse } from '../../gen/parley/v1/conversation_service_pb.ts';
import { linkAbort, raceAbort, sleep } from './abort.ts';
import type { ConversationView } from './conversation-view.ts';
import { StreamProtocolError } from './protocol-error.ts';
import { reduceConversation } from './reduce-conversation.ts';
import { DEFAULT_BACKOFF_BASE_MS, exponentialBackoff, isRetryableCode, type Backoff } from './retry-policy.ts';

/** Any connect-es client of ConversationService, over any transport; only `subscribe` is used. */
export type SubscribeClient = Pick<Client<typeof ConversationService>, 'subscribe'>;

export interface SubscribeOptions {
  /** Ends the subscription: iteration finishes (without an error) and the stream is cancelled. */
  readonly signal?: AbortSignal;
  /**
   * Consecutive failed attempts tolerated before the last error is thrown. The count restarts
   * whenever an attempt moves the state past the seq it started from. Default 10.
   */
  readonly maxRetries?: number;
  /**
   * Delay before a retry: a base for capped exponential backoff with jitter, or a function of the
   * attempt number (from 1). Default 250.
   */
  readonly backoffMs?: number | Backoff;
  /**
   * Cancel and resume a stream that delivers nothing (not even a heartbeat) for this long, for
   * connections that die without an error. Off by default; set it above the server's heartbeat
   * interval.
   */
  readonly idleTimeoutMs?: number;
  /** A view kept from an earlier subscription: the first call then resumes from its seq. */
  readonly initial?: ConversationView;
  /** Passed to every call (headers for authentication, for example). */
  readonly callOptions?: Omit<CallOptions, 'signal'>;
  /** Told before each retry, for a "reconnecting…" indicator or logs. */
  readonly onRetry?: (retry: RetryInfo) => void;
}

export interface RetryInfo {
  /** 1 for the first retry after progress. */
  readonly attempt: number;
  readonly delayMs: number;
  /** The ConnectError, StreamProtocolError or gap that ended the previous attempt. */
  readonly reason: Error;
  /** What the next call will pass as after_seq; undefined asks for a fresh snapshot. */
  readonly afterSeq: bigint | undefined;
}

export interface ConversationUpdate {
  /** The state after this response. The same object as before for a heartbeat. */
  readonly state: ConversationView;
  readonly response: SubscribeResponse;
  readonly outcome: 'applied' | 'heartbeat';
  /** True when the response came on a stream opened with after_seq (a resume). */
  readonly resumed: boolean;
}

export interface ConversationSubscription extends AsyncIterable<ConversationUpdate> {
  /** The latest state; undefined until the first snapshot. */
  readonly state: ConversationView | undefined;
  /** Same as aborting `options.signal`. */
  close(): void;
}

/**
 * Subscribes to a conversation and keeps subscribing: after a retryable error, a stream that ends,
 * or a gap, it calls Subscribe again with after_seq = the last seq applied, so every event is
 * applied exactly once. A snapshot always replaces the state. Duplicates are not yielded.
 * Iteration throws the ConnectError of a non-retryable code (NotFound, InvalidArgument,
 * PermissionDenied, Unauthenticated…) or the last error once maxRetries is exceeded. Single use:
 * every iterator shares one underlying loop.
 */
export function subscribeConversation(
  client: SubscribeClient,
  conversationId: string,
  options: SubscribeOptions = {},
): ConversationSubscription {
  const stop = new AbortController();
  const maxRetries = options.maxRetries ?? 10;
  const backoff =
    typeof options.backoffMs === 'function'
      ? options.backoffMs
      : exponentialBackoff(options.backoffMs ?? DEFAULT_BACKOFF_BASE_MS);
  let current = options.initial;

  async function* run(): AsyncGenerator<ConversationUpdate, void, undefined> {
    const unlinkUser = linkAbort(options.signal, stop);
    let failures = 0;
    // Set when resuming cannot help: the next call omits after_seq and gets a fresh snapshot.
    let fresh = false;
    try {
      while (!stop.signal.aborted) {
        const afterSeq = fresh ? undefined : current?.seq;
        fresh = false;
        const startSeq = current?.seq;
        let progressed = false;
        let failure: Error;
        // One controller per call, aborted whenever we leave it: connect-es streams have no
        // return(), so abort is the only way to release the underlying request.
        const call = new AbortController();
        const unlinkCall = linkAbort(stop.signal, call);
        let iterator: AsyncIterator<SubscribeResponse> | undefined;
        try {
          const request = { conversationId, afterSeq };
          const responses = client.subscribe(request, { ...options.callOptions, signal: call.signal });
          iterator = responses[Symbol.asyncIterator]();
          for (;;) {
            const next = await nextWithin(iterator, call, options.idleTimeoutMs);
            if (next.done) {
              failure = new ConnectError('Subscribe stream ended', Code.Unavailable);
              break;
            }
            const { outcome, view } = reduceConversation(current, next.value);
            if (outcome === 'gap') {
              failure = new ConnectError(
                `Subscribe stream skipped events: got seq ${next.value.seq} holding ${current?.seq ?? 'nothing'}`,
                Code.DataLoss,
              );
              // A resume that starts with a gap would start with it again.
              fresh = !progressed;
              break;
            }
            if (outcome === 'duplicate') continue;
            current = view;
            if (outcome === 'applied' && view !== undefined && (startSeq === undefined || view.seq > startSeq)) {
              progressed = true;
              failures = 0;
            }
            if (view !== undefined) {
              yield { state: view, response: next.value, outcome, resumed: afterSeq !== undefined };
            }
          }
        } catch (error) {
          if (stop.signal.aborted) return;
          if (error instanceof StreamProtocolError) {
            fresh = true;
            failure = error;
          } else {
            const connectError = ConnectError.from(error);
            if (!isRetryableCode(connectError.code)) throw connectError;
            failure = connectError;
          }
        } finally {
          call.abort();
          unlinkCall();
          void iterator?.return?.()?.catch(() => {});
        }
        failures++;
        if (failures > maxRetries) throw failure;
        const delayMs = backoff(failures);
        options.onRetry?.({ attempt: failures, delayMs, reason: failure, afterSeq: fresh ? undefined : current?.seq });
        if (!(await sleep(delayMs, stop.signal))) return;
      }
    } finally {
      unlinkUser();
    }
  }

  const updates = run();
  return {
    get state() {
      return current;
    },
    close() {
      stop.abort();
    },
    [Symbol.asyncIterator]: () => updates,
  };
}

async function nextWithin<T>(
  iterator: AsyncIterator<T>,
  call: AbortController,
  idleTimeoutMs: number | undefined,
): Promise<IteratorResult<T>> {
  // Only the wait for the server counts: a slow consumer is not an idle stream.
  const timer =
    idleTimeoutMs === undefined
      ? undefined
      : setTimeout(
          () => call.abort(new ConnectError(`Subscribe stream silent for ${idleTimeoutMs} ms`, Code.DeadlineExceeded)),
          idleTimeoutMs,
        );
  try {
    return await raceAbort(iterator.next(), call.signal);
  } finally {
    clearTimeout(timer);
  }
}
