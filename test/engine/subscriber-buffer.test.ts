// A subscriber's buffer is bounded in bytes as well as in events: one that stops taking events
// fails with SubscriberOverflow once what waits for it passes the byte bound, while one that
// keeps up takes events of any size. The events come from the hub's notices: plain data, here
// made by hand, and a read function that the subscriptions only call when they must catch up.
import { describe, expect, it } from 'vitest';
import type { SequencedEvent } from '../../src/domain/events.ts';
import { EventsPruned, Subscription, SubscriberOverflow } from '../../src/engine/subscription.ts';
import type { EventNotice } from '../../src/store/event-log.ts';

function delta(seq: number, chars: number): SequencedEvent {
  return { conversationId: 'c', seq, event: { type: 'block_delta', messageId: 'm', index: 0, delta: { kind: 'text', value: 'x'.repeat(chars) } } };
}

function notice(events: SequencedEvent[]): EventNotice {
  return { conversationId: 'c', from: events[0]!.seq, to: events.at(-1)!.seq };
}

const noReads = async (): Promise<SequencedEvent[]> => [];

describe('a subscriber buffer', () => {
  it('fails a subscriber that fell more than the byte bound behind', async () => {
    const subscription = new Subscription('c', noReads, { events: 1_000, bytes: 10_000 }, () => undefined);
    subscription.startAfter(0);
    await new Promise((resolve) => setTimeout(resolve, 0)); // the catch-up read at start
    for (let seq = 1; seq <= 4; seq++) subscription.notify(notice([delta(seq, 3_000)]), [delta(seq, 3_000)]);
    const signal = new AbortController().signal;
    const failure = await subscription.next(10, signal).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(SubscriberOverflow);
    expect((failure as SubscriberOverflow).unit).toBe('bytes');
    expect((failure as SubscriberOverflow).message).toBe('the subscriber fell more than 10000 bytes behind');
  });

  it('lets a subscriber that keeps up take events larger than the bound', async () => {
    const subscription = new Subscription('c', noReads, { events: 1_000, bytes: 10_000 }, () => undefined);
    subscription.startAfter(0);
    await new Promise((resolve) => setTimeout(resolve, 0));
    const signal = new AbortController().signal;
    for (let seq = 1; seq <= 5; seq++) {
      const event = delta(seq, 50_000);
      subscription.notify(notice([event]), [event]);
      expect((await subscription.next(10, signal))?.map((e) => e.seq)).toEqual([seq]);
    }
  });
});

describe('a subscriber whose next events were pruned', () => {
  it('fails with EventsPruned instead of reading the same gap for ever', async () => {
    let reads = 0;
    const afterPruning = async (): Promise<SequencedEvent[]> => {
      reads++;
      return [delta(7, 10), delta(8, 10)];
    };
    const subscription = new Subscription('c', afterPruning, { events: 1_000, bytes: 1_000_000 }, () => undefined);
    subscription.startAfter(3);
    const failure = await subscription.next(1_000, new AbortController().signal).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(EventsPruned);
    expect((failure as EventsPruned).afterSeq).toBe(3);
    expect(reads).toBe(1);
  });
});
