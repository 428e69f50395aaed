import { describe, expect, it } from 'vitest';
import { builtinTools } from '../../src/tools/builtin/index.ts';
import { ToolExecutor } from '../../src/tools/tool-executor.ts';
import { context } from './fixtures.ts';

describe('builtinTools', () => {
  it('registers cleanly and describes each tool for the model', () => {
    const executor = new ToolExecutor(builtinTools());
    expect(executor.names()).toEqual(['current_time', 'calculate']);
    for (const definition of executor.definitions(executor.names())) {
      expect(definition.description?.length).toBeGreaterThan(40);
      expect(definition.input_schema.type).toBe('object');
    }
    expect(executor.definitions(['calculate'])[0]?.input_schema.required).toEqual(['expression']);
  });

  it('passes the injected clock to current_time', async () => {
    const executor = new ToolExecutor(builtinTools({ now: () => new Date('2030-05-06T07:08:09Z') }));
    const outcome = await executor.execute({ id: 't1', name: 'current_time', input: {} }, context());
    expect(outcome.content).toMatch(/^2030-05-06T07:08:09\+00:00 \(Monday, 6 May 2030/);
  });

  it('runs a mixed batch in order', async () => {
    const executor = new ToolExecutor(builtinTools({ now: () => new Date('2026-01-01T00:00:00Z') }));
    const outcomes = await executor.executeAll(
      [
        { id: 'a', name: 'calculate', input: { expression: '6 * 7' } },
        { id: 'b', name: 'current_time', input: { time_zone: 'Asia/Tokyo' } },
        { id: 'c', name: 'calculate', input: { expression: '1 / 0' } },
      ],
      context(),
    );
    expect(outcomes.map((o) => [o.isError, o.content.slice(0, 25)])).toEqual([
      [false, '42'],
      [false, '2026-01-01T09:00:00+09:00'],
      [true, 'Tool "calculate" failed: '],
    ]);
  });
});
