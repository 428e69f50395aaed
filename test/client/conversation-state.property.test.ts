// Resume without gaps or duplicates, as a property: whatever the conversation, however its text is
// cut into deltas, whatever duplicates a resume replays, and wherever a snapshot takes over, the
// client ends with exactly the conversation the server holds.
import { equals } from '@bufbuild/protobuf';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  GetConversationResponseSchema,
  type GetConversationResponse,
} from '../../gen/parley/v1/conversation_service_pb.ts';
import { ConversationState } from '../../src/client/index.ts';
import { heartbeat } from './support/events.ts';
import {
  buildTimeline,
  finalState,
  snapshotAt,
  type BlockSpec,
  type ConversationSpec,
  type Timeline,
} from './support/timeline.ts';

const cuts = fc.array(fc.nat({ max: 200 }), { maxLength: 8 });
const text = fc.string({ unit: 'binary', maxLength: 60 });

const blockSpec: fc.Arbitrary<BlockSpec> = fc.oneof(
  fc.record({ kind: fc.constant('text' as const), text, cuts }),
  fc.record({
    kind: fc.constant('thinking' as const),
    thinking: text,
    signature: fc.base64String({ maxLength: 40 }),
    cuts,
    signatureCuts: cuts,
  }),
  fc.record({ kind: fc.constant('redacted' as const), data: fc.base64String({ maxLength: 20 }) }),
  fc.record({
    kind: fc.constant('tool' as const),
    name: fc.stringMatching(/^[a-z_]{1,12}$/),
    input: fc.dictionary(
      fc.string({ maxLength: 6 }),
      fc.oneof(fc.string({ maxLength: 10 }), fc.integer(), fc.boolean(), fc.constant(null)),
      { maxKeys: 4 },
    ),
    cuts,
    client: fc.boolean(),
    result: text,
    isError: fc.boolean(),
    resultStarts: fc.boolean(),
  }),
);

const conversationSpec: fc.Arbitrary<ConversationSpec> = fc.record({
  title: fc.string({ minLength: 1, maxLength: 20 }),
  turns: fc.array(
    fc.record({
      text: fc.string({ minLength: 1, maxLength: 30 }),
      blocks: fc.array(blockSpec, { maxLength: 5 }),
      ending: fc.constantFrom('completed' as const, 'failed' as const, 'cancelled' as const),
      retitle: fc.option(fc.string({ minLength: 1, maxLength: 20 })),
    }),
    { maxLength: 4 },
  ),
});

/** A timeline with a position in it (0 … number of events). */
const timelineAndPoint = conversationSpec
  .map(buildTimeline)
  .chain((timeline) => fc.tuple(fc.constant(timeline), fc.nat({ max: timeline.events.length })));

function same(state: ConversationState, truth: GetConversationResponse | undefined): boolean {
  return truth !== undefined && equals(GetConversationResponseSchema, state.toGetConversationResponse(), truth);
}

/** Every tool call of the timeline ends finished with its result, however the state got there. */
function expectToolCallsFinished(state: ConversationState, timeline: Timeline): void {
  for (const { event: finished } of timeline.events) {
    if (finished.case !== 'toolCallFinished') continue;
    expect(state.toolCalls.get(finished.value.toolUseId)).toMatchObject({
      status: 'finished',
      content: finished.value.content,
      isError: finished.value.isError,
    });
  }
}

function event(timeline: Timeline, seq: number) {
  const found = timeline.events[seq - 1];
  if (!found) throw new Error(`no event ${seq}`);
  return found;
}

describe('ConversationState against a server timeline', () => {
  it('builds the true state after every event, whatever duplicates and heartbeats come between', () => {
    fc.assert(
      fc.property(
        conversationSpec.map(buildTimeline),
        fc.infiniteStream(fc.tuple(fc.nat({ max: 9 }), fc.nat())),
        (timeline, noise) => {
          const state = new ConversationState();
          expect(state.apply(snapshotAt(timeline, 0))).toBe('applied');
          for (let seq = 1; seq <= timeline.events.length; seq++) {
            expect(state.apply(event(timeline, seq))).toBe('applied');
            expect(same(state, timeline.states[seq])).toBe(true);
            const [kind, pick] = noise.next().value as [number, number];
            const before = state.view;
            if (kind < 3) {
              // A resume replaying something already applied.
              expect(state.apply(event(timeline, 1 + (pick % seq)))).toBe('duplicate');
            } else if (kind === 3) {
              expect(state.apply(heartbeat(seq))).toBe('heartbeat');
            }
            expect(state.view).toBe(before);
          }
          expect(same(state, finalState(timeline))).toBe(true);
          expectToolCallsFinished(state, timeline);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('refuses every event after a gap until the missing one arrives', () => {
    fc.assert(
      fc.property(
        timelineAndPoint.filter(([timeline, k]) => k + 2 <= timeline.events.length),
        ([timeline, k]) => {
          const state = new ConversationState();
          state.apply(snapshotAt(timeline, 0));
          for (let seq = 1; seq <= k; seq++) state.apply(event(timeline, seq));
          for (let seq = k + 2; seq <= timeline.events.length; seq++) {
            expect(state.apply(event(timeline, seq))).toBe('gap');
          }
          expect(same(state, timeline.states[k])).toBe(true);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('ends with the true state when a snapshot at k (at or after where it stopped) takes over', () => {
    fc.assert(
      fc.property(
        timelineAndPoint.chain(([timeline, k]) => fc.tuple(fc.constant(timeline), fc.constant(k), fc.nat({ max: k }))),
        fc.boolean(),
        ([timeline, k, stoppedAt], reset) => {
          const state = new ConversationState();
          state.apply(snapshotAt(timeline, 0));
          for (let seq = 1; seq <= stoppedAt; seq++) state.apply(event(timeline, seq));
          expect(state.apply(snapshotAt(timeline, k, reset))).toBe('applied');
          expect(same(state, timeline.states[k])).toBe(true);
          // The server may replay a few events from before its snapshot: all duplicates now.
          for (let seq = Math.max(1, stoppedAt); seq <= k; seq++) {
            expect(state.apply(event(timeline, seq))).toBe('duplicate');
          }
          for (let seq = k + 1; seq <= timeline.events.length; seq++) state.apply(event(timeline, seq));
          expect(same(state, finalState(timeline))).toBe(true);
          expectToolCallsFinished(state, timeline);
        },
      ),
      { numRuns: 150 },
    );
  });
});
