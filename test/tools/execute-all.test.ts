import { describe, expect, it, vi } from 'vitest';
import { ToolExecutor } from '../../src/tools/tool-executor.ts';
import type { ToolCall } from '../../src/tools/types.ts';
import { context, deferred, fakeTool } from './fixtures.ts';

const calls = (n: number): ToolCall[] =>
  Array.from({ length: n }, (_, i) => ({ id: `t${i}`, name: 'gate', input: { i } }));

describe('ToolExecutor.executeAll', () => {
  it('never runs more than maxConcurrency at once, and keeps the order of the calls', async () => {
    const gates = Array.from({ length: 7 }, () => deferred<void>());
    const started: number[] = [];
    let active = 0;
    let peak = 0;
    const executor = new ToolExecutor(
      [
        fakeTool({
          name: 'gate',
          execute: async (input) => {
            const i = input['i'] as number;
            started.push(i);
            active++;
            peak = Math.max(peak, active);
            try {
              await gates[i]?.promise;
              return `result ${i}`;
            } finally {
              active--;
            }
          },
        }),
      ],
      { maxConcurrency: 3 },
    );

    const all = executor.executeAll(calls(7), context());
    await vi.waitFor(() => expect(started).toHaveLength(3));
    expect(active).toBe(3);

    // Finish out of order: each finish lets exactly one more call start, and the outcomes must
    // still line up with the calls.
    let finished = 0;
    for (const i of [2, 0, 1, 5, 3, 6, 4]) {
      gates[i]?.resolve();
      finished++;
      await vi.waitFor(() => expect(started).toHaveLength(Math.min(3 + finished, 7)));
      expect(active).toBeLessThanOrEqual(3);
    }
    const outcomes = await all;

    expect(peak).toBe(3);
    expect(started.slice().sort()).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(outcomes.map((o) => o.content)).toEqual([0, 1, 2, 3, 4, 5, 6].map((i) => `result ${i}`));
    expect(outcomes.every((o) => !o.isError)).toBe(true);
  });

  it('starts the next call only when one finishes', async () => {
    const gates = Array.from({ length: 3 }, () => deferred<void>());
    const started: number[] = [];
    const executor = new ToolExecutor(
      [
        fakeTool({
          name: 'gate',
          execute: async (input) => {
            const i = input['i'] as number;
            started.push(i);
            await gates[i]?.promise;
            return String(i);
          },
        }),
      ],
      { maxConcurrency: 1 },
    );
    const all = executor.executeAll(calls(3), context());
    await vi.waitFor(() => expect(started).toEqual([0]));
    gates[1]?.resolve();
    gates[2]?.resolve();
    // Later calls are released but not yet started: only call 0 may be running.
    await new Promise((resolve) => setImmediate(resolve));
    expect(started).toEqual([0]);
    gates[0]?.resolve();
    expect((await all).map((o) => o.content)).toEqual(['0', '1', '2']);
  });

  it('uses a default bound of 4', async () => {
    let active = 0;
    let peak = 0;
    const release = deferred<void>();
    const executor = new ToolExecutor([
      fakeTool({
        name: 'gate',
        execute: async () => {
          active++;
          peak = Math.max(peak, active);
          await release.promise;
          active--;
          return 'done';
        },
      }),
    ]);
    const all = executor.executeAll(calls(10), context());
    await vi.waitFor(() => expect(active).toBe(4));
    release.resolve();
    await all;
    expect(peak).toBe(4);
  });

  it('returns each failure in its own place, without failing the others', async () => {
    const executor = new ToolExecutor([
      fakeTool({ name: 'ok', execute: async () => 'fine' }),
      fakeTool({ name: 'bad', execute: async () => Promise.reject(new Error('nope')) }),
    ]);
    const outcomes = await executor.executeAll(
      [
        { id: 'a', name: 'ok', input: {} },
        { id: 'b', name: 'bad', input: {} },
        { id: 'c', name: 'ghost', input: {} },
        { id: 'd', name: 'ok', input: {} },
      ],
      context(),
    );
    expect(outcomes.map((o) => o.isError)).toEqual([false, true, true, false]);
    expect(outcomes[1]?.content).toMatch(/nope/);
    expect(outcomes[2]?.content).toMatch(/Unknown tool "ghost"/);
  });

  it('returns an empty list for no calls', async () => {
    expect(await new ToolExecutor([]).executeAll([], context())).toEqual([]);
  });
});

describe('ToolExecutor.executeAll when the caller aborts', () => {
  it('cancels the running calls and does not start the rest', async () => {
    const started: number[] = [];
    const executor = new ToolExecutor(
      [
        fakeTool({
          name: 'gate',
          execute: (input) => {
            started.push(input['i'] as number);
            return new Promise<string>(() => undefined);
          },
        }),
      ],
      { maxConcurrency: 2 },
    );
    const controller = new AbortController();
    const all = executor.executeAll(calls(5), context(controller.signal));
    await vi.waitFor(() => expect(started).toEqual([0, 1]));
    controller.abort();
    const outcomes = await all;
    expect(started).toEqual([0, 1]);
    expect(outcomes).toHaveLength(5);
    expect(outcomes.every((o) => o.isError && /was cancelled/.test(o.content))).toBe(true);
  });
});
