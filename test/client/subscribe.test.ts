import { equals } from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GetConversationResponseSchema } from '../../gen/parley/v1/conversation_service_pb.ts';
import {
  ConversationState,
  subscribeConversation,
  toGetConversationResponse,
  type ConversationSubscription,
  type ConversationUpdate,
  type ConversationView,
  type RetryInfo,
  type SubscribeOptions,
} from '../../src/client/index.ts';
import { CONVERSATION_ID, heartbeat, textDelta } from './support/events.ts';
import { fakeServer, type CallScript, type FakeServerOptions } from './support/fake-server.ts';
import { buildTimeline, finalState, snapshotAt, type ConversationSpec } from './support/timeline.ts';

const SPEC: ConversationSpec = {
  title: 'Resume',
  turns: [
    {
      text: 'Weather in Oslo?',
      blocks: [
        {
          kind: 'thinking',
          thinking: 'The user wants the weather.',
          signature: 'c2lnbmF0dXJl',
          cuts: [3, 9, 15],
          signatureCuts: [4],
        },
        {
          kind: 'tool',
          name: 'weather',
          input: { city: 'Oslo' },
          cuts: [2, 7],
          client: false,
          result: 'Sunny',
          isError: false,
          resultStarts: false,
        },
        { kind: 'text', text: 'It is sunny in Oslo today.', cuts: [2, 5, 9, 14, 20] },
      ],
      ending: 'completed',
      retitle: 'Oslo weather',
    },
    { text: 'Thanks', blocks: [{ kind: 'text', text: 'You are welcome!', cuts: [3, 8, 11] }], ending: 'completed', retitle: null },
  ],
};

const timeline = buildTimeline(SPEC);
const LAST = timeline.events.length;
const RETRYABLE = [
  Code.Unavailable,
  Code.Canceled,
  Code.Internal,
  Code.ResourceExhausted,
  Code.DeadlineExceeded,
  Code.Unknown,
];

function isTruth(view: ConversationView | undefined): boolean {
  return equals(GetConversationResponseSchema, toGetConversationResponse(view), finalState(timeline));
}

function start(scripts: CallScript[], options: SubscribeOptions = {}, server: FakeServerOptions = {}) {
  const fake = fakeServer(timeline, scripts, server);
  const retries: RetryInfo[] = [];
  const subscription = subscribeConversation(fake.client, CONVERSATION_ID, {
    backoffMs: 0,
    onRetry: (retry) => retries.push(retry),
    ...options,
  });
  return { ...fake, subscription, retries };
}

/** Reads until the state reaches the timeline's last seq, then stops (the stream stays live). */
async function readToEnd(subscription: ConversationSubscription): Promise<ConversationUpdate[]> {
  const updates: ConversationUpdate[] = [];
  for await (const update of subscription) {
    updates.push(update);
    if (update.outcome === 'applied' && update.state.seq === BigInt(LAST)) break;
  }
  return updates;
}

const appliedSeqs = (updates: ConversationUpdate[]) =>
  updates.filter((u) => u.outcome === 'applied').map((u) => Number(u.response.seq));

describe('subscribeConversation', () => {
  it('resumes after each failure with the last seq it applied and ends with the true state', async () => {
    const { subscription, calls, retries } = start([
      { stopAfter: 5, then: Code.Unavailable },
      { stopAfter: 3, then: Code.Internal },
      { stopAfter: 4, then: 'end' },
    ]);
    const updates = await readToEnd(subscription);

    expect(calls.map((call) => call.afterSeq)).toEqual([undefined, 4n, 7n, 11n]);
    expect(isTruth(subscription.state)).toBe(true);
    expect(appliedSeqs(updates)).toEqual(Array.from({ length: LAST + 1 }, (_, i) => i));
    expect(updates.map((u) => u.resumed)).toEqual(updates.map((u) => u.response.seq > 4n));
    expect(retries.map((r) => [r.attempt, r.afterSeq, (r.reason as ConnectError).code])).toEqual([
      [1, 4n, Code.Unavailable],
      [1, 7n, Code.Internal],
      [1, 11n, Code.Unavailable],
    ]);
    // Every call was cancelled once left, the live one by the break.
    expect(calls.every((call) => call.signal?.aborted)).toBe(true);
  });

  it('ends with the true state for any sequence of retryable failures', async () => {
    const failures = fc.array(fc.tuple(fc.nat({ max: 12 }), fc.constantFrom(...RETRYABLE, 'end' as const)), {
      maxLength: 8,
    });
    await fc.assert(
      fc.asyncProperty(failures, async (plan) => {
        const { subscription, calls } = start(plan.map(([stopAfter, then]) => ({ stopAfter, then })), {
          maxRetries: Infinity,
        });
        const updates = await readToEnd(subscription);
        expect(isTruth(subscription.state)).toBe(true);
        expect(appliedSeqs(updates)).toEqual(Array.from({ length: LAST + 1 }, (_, i) => i));
        // Each call resumes exactly where the previous one left the state.
        for (let i = 1; i < calls.length; i++) {
          const previous = calls[i - 1]!;
          const held =
            previous.afterSeq === undefined
              ? previous.sent === 0
                ? undefined
                : BigInt(previous.sent - 1)
              : previous.afterSeq + BigInt(previous.sent);
          expect(calls[i]!.afterSeq).toBe(held);
        }
      }),
      { numRuns: 40 },
    );
  });

  it('resubscribes after a gap with the seq before it', async () => {
    const { subscription, calls, retries } = start([{ respond: (r) => r.filter((x) => x.seq !== 6n) }]);
    const updates = await readToEnd(subscription);
    expect(calls.map((call) => call.afterSeq)).toEqual([undefined, 5n]);
    expect((retries[0]?.reason as ConnectError).code).toBe(Code.DataLoss);
    expect(appliedSeqs(updates)).toEqual(Array.from({ length: LAST + 1 }, (_, i) => i));
    expect(isTruth(subscription.state)).toBe(true);
  });

  it('asks for a fresh snapshot when a resume starts with a gap', async () => {
    const { subscription, calls } = start([
      { stopAfter: 4, then: Code.Unavailable },
      { respond: (r) => r.slice(1) },
    ]);
    await readToEnd(subscription);
    expect(calls.map((call) => call.afterSeq)).toEqual([undefined, 3n, undefined]);
    expect(isTruth(subscription.state)).toBe(true);
  });

  it('takes a heartbeat ahead of its seq as a gap', async () => {
    const { subscription, calls } = start([{ respond: (r) => [...r.slice(0, 4), heartbeat(9)] }]);
    await readToEnd(subscription);
    expect(calls.map((call) => call.afterSeq)).toEqual([undefined, 3n]);
  });

  it('replaces its state when a resume is answered with a reset snapshot, never doubling content', async () => {
    const { subscription, calls } = start([{ stopAfter: 20, then: Code.Unavailable }], {}, { oldestResumable: 30 });
    const updates = await readToEnd(subscription);
    expect(calls.map((call) => call.afterSeq)).toEqual([undefined, 19n]);
    const reset = updates.find((u) => u.response.event.case === 'snapshot' && u.response.event.value.reset);
    expect(reset?.resumed).toBe(true);
    expect(reset?.state.seq).toBe(30n);
    expect(isTruth(subscription.state)).toBe(true);
  });

  it('yields nothing for events a resume replays, and applies them once', async () => {
    const { subscription, calls } = start([
      { stopAfter: 9, then: Code.Unavailable },
      { respond: (r) => [...timeline.events.slice(2, 8), ...r] },
    ]);
    const updates = await readToEnd(subscription);
    expect(calls.map((call) => call.afterSeq)).toEqual([undefined, 8n]);
    expect(appliedSeqs(updates)).toEqual(Array.from({ length: LAST + 1 }, (_, i) => i));
    expect(isTruth(subscription.state)).toBe(true);
  });

  it('yields heartbeats with the state unchanged', async () => {
    const { subscription } = start([{ respond: (r) => [...r.slice(0, 3), heartbeat(2), ...r.slice(3)] }]);
    const updates = await readToEnd(subscription);
    const index = updates.findIndex((u) => u.outcome === 'heartbeat');
    expect(updates[index]?.state).toBe(updates[index - 1]?.state);
  });

  it('starts over from a fresh snapshot when the stream contradicts its state', async () => {
    const { subscription, calls, retries } = start([
      { respond: (r) => [...r.slice(0, 4), textDelta(4, 'no-such-message', 0, 'x')] },
    ]);
    await readToEnd(subscription);
    expect(calls.map((call) => call.afterSeq)).toEqual([undefined, undefined]);
    expect(retries[0]?.reason.name).toBe('StreamProtocolError');
    expect(isTruth(subscription.state)).toBe(true);
  });

  it('resumes from an initial view kept from before', async () => {
    const kept = new ConversationState();
    kept.apply(snapshotAt(timeline, 12));
    const { subscription, calls } = start([], { initial: kept.view });
    const updates = await readToEnd(subscription);
    expect(calls.map((call) => call.afterSeq)).toEqual([12n]);
    expect(updates[0]?.resumed).toBe(true);
    expect(isTruth(subscription.state)).toBe(true);
  });

  it.each([Code.NotFound, Code.InvalidArgument, Code.PermissionDenied, Code.Unauthenticated].map((code) => [Code[code], code]))(
    'stops on %s and rethrows it',
    async (_name, code) => {
      const { subscription, calls, retries } = start([{ stopAfter: 3, then: code }]);
      const updates: ConversationUpdate[] = [];
      const error = await (async () => {
        for await (const update of subscription) updates.push(update);
      })().catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(ConnectError);
      expect((error as ConnectError).code).toBe(code);
      expect(updates).toHaveLength(3);
      expect(calls).toHaveLength(1);
      expect(calls[0]?.signal?.aborted).toBe(true);
      expect(retries).toEqual([]);
    },
  );

  it('gives up after maxRetries failures without progress, with the last error', async () => {
    const down = { stopAfter: 0, then: Code.Unavailable };
    const { subscription, calls, retries } = start([down, down, down, down, down], { maxRetries: 3 });
    await expect(readToEnd(subscription)).rejects.toMatchObject({ code: Code.Unavailable });
    expect(calls).toHaveLength(4);
    expect(retries.map((r) => r.attempt)).toEqual([1, 2, 3]);
  });

  it('counts failures again from zero after each attempt that made progress', async () => {
    const scripts = Array.from({ length: LAST }, (_, i): CallScript => ({
      stopAfter: i === 0 ? 2 : 1,
      then: Code.Unavailable,
    }));
    const { subscription } = start(scripts, { maxRetries: 1 });
    await readToEnd(subscription);
    expect(isTruth(subscription.state)).toBe(true);
  });

  it('grows the delay between failed attempts', async () => {
    const down = { stopAfter: 0, then: Code.Unavailable };
    const delays: number[] = [];
    const { subscription } = start([down, down, down], {
      maxRetries: 2,
      backoffMs: (attempt) => attempt * 3,
      onRetry: (retry) => delays.push(retry.delayMs),
    });
    await expect(readToEnd(subscription)).rejects.toBeInstanceOf(ConnectError);
    expect(delays).toEqual([3, 6]);
  });

  it('cancels a silent stream after idleTimeoutMs and resumes', async () => {
    const { subscription, calls } = start([{ stopAfter: 5, then: 'hang' }], { idleTimeoutMs: 200 });
    await readToEnd(subscription);
    expect(calls.map((call) => call.afterSeq)).toEqual([undefined, 4n]);
    expect(calls[0]?.signal?.aborted).toBe(true);
    expect(isTruth(subscription.state)).toBe(true);
  });

  it('ends promptly when aborted, even on a stream that ignores cancellation', async () => {
    const controller = new AbortController();
    const { subscription, calls } = start([{ stopAfter: 3, then: 'deaf' }], { signal: controller.signal });
    const updates: ConversationUpdate[] = [];
    const done = (async () => {
      for await (const update of subscription) {
        updates.push(update);
        if (updates.length === 3) setTimeout(() => controller.abort(), 10);
      }
    })();
    const started = Date.now();
    await done;
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(updates).toHaveLength(3);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.signal?.aborted).toBe(true);
  });

  it('ends promptly when aborted during a backoff', async () => {
    const controller = new AbortController();
    const { subscription, calls } = start([{ stopAfter: 2, then: Code.Unavailable }], {
      signal: controller.signal,
      backoffMs: 60_000,
      onRetry: () => controller.abort(),
    });
    const started = Date.now();
    const updates: ConversationUpdate[] = [];
    for await (const update of subscription) updates.push(update);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(updates).toHaveLength(2);
    expect(calls).toHaveLength(1);
  });

  it('closes: before it starts nothing is called, while it runs the stream is cancelled', async () => {
    const idle = start([]);
    idle.subscription.close();
    for await (const _ of idle.subscription) expect.unreachable();
    expect(idle.calls).toHaveLength(0);

    const running = start([{ stopAfter: 4, then: 'deaf' }]);
    const updates: ConversationUpdate[] = [];
    for await (const update of running.subscription) {
      updates.push(update);
      if (updates.length === 4) running.subscription.close();
    }
    expect(updates).toHaveLength(4);
    expect(running.calls[0]?.signal?.aborted).toBe(true);
  });

  it('cancels the stream when the consumer stops reading', async () => {
    const { subscription, calls } = start([]);
    for await (const update of subscription) {
      if (update.state.seq === 3n) break;
    }
    expect(calls).toHaveLength(1);
    expect(calls[0]?.signal?.aborted).toBe(true);
  });
});
