import { describe, expect, it, vi } from 'vitest';
import { ToolExecutor } from '../../src/tools/tool-executor.ts';
import type { ToolContext } from '../../src/tools/types.ts';
import { context, deferred, fakeTool } from './fixtures.ts';

const echoSchema = {
  type: 'object',
  properties: { text: { type: 'string', description: 'What to echo.' } },
  required: ['text'],
  additionalProperties: false,
};

describe('ToolExecutor registry', () => {
  const executor = new ToolExecutor([
    fakeTool({ name: 'echo', description: 'Echoes text.', inputSchema: echoSchema }),
    fakeTool({ name: 'noop' }),
  ]);

  it('knows its tools by name', () => {
    expect(executor.has('echo')).toBe(true);
    expect(executor.has('missing')).toBe(false);
    expect(executor.names()).toEqual(['echo', 'noop']);
  });

  it('gives Anthropic definitions in the order asked', () => {
    expect(executor.definitions(['noop', 'echo'])).toEqual([
      { name: 'noop', description: 'The noop tool.', input_schema: { type: 'object', properties: {} } },
      { name: 'echo', description: 'Echoes text.', input_schema: echoSchema },
    ]);
    expect(executor.definitions([])).toEqual([]);
  });

  it('throws for a definition of an unknown tool', () => {
    expect(() => executor.definitions(['echo', 'nope'])).toThrow(/Unknown tool "nope"/);
  });

  it('hands out copies, so callers cannot change what is validated', async () => {
    const [definition] = executor.definitions(['echo']);
    (definition?.input_schema.properties as Record<string, unknown>)['text'] = { type: 'number' };
    expect(executor.definitions(['echo'])[0]?.input_schema).toEqual(echoSchema);
    const outcome = await executor.execute({ id: 't1', name: 'echo', input: { text: 'hi' } }, context());
    expect(outcome.isError).toBe(false);
  });

  it.each([
    ['a bad name', [fakeTool({ name: 'has space' })], /must match/],
    ['an empty name', [fakeTool({ name: '' })], /must match/],
    ['a name over 64 characters', [fakeTool({ name: 'x'.repeat(65) })], /must match/],
    ['a duplicate', [fakeTool({ name: 'a' }), fakeTool({ name: 'a' })], /registered twice/],
    ['a schema that is not an object', [fakeTool({ name: 'a', inputSchema: { type: 'string' } })], /type "object"/],
    ['an invalid schema', [fakeTool({ name: 'a', inputSchema: { type: 'object', required: 'x' } })], /invalid inputSchema/],
    ['a bad timeout', [fakeTool({ name: 'a', timeoutMs: 0 })], /timeoutMs must be a positive integer/],
  ])('rejects %s at construction', (_label, tools, message) => {
    expect(() => new ToolExecutor(tools)).toThrow(message);
  });

  it('rejects bad options at construction', () => {
    expect(() => new ToolExecutor([], { maxConcurrency: 0 })).toThrow(/maxConcurrency/);
    expect(() => new ToolExecutor([], { defaultTimeoutMs: -1 })).toThrow(/defaultTimeoutMs/);
  });

  it('accepts a draft-07 $schema, as schema generators emit it', () => {
    const schema = { $schema: 'http://json-schema.org/draft-07/schema#', ...echoSchema };
    expect(() => new ToolExecutor([fakeTool({ name: 'a', inputSchema: schema })])).not.toThrow();
  });
});

describe('ToolExecutor.execute', () => {
  it('returns the tool output and passes the conversation id', async () => {
    let seen: ToolContext | undefined;
    const executor = new ToolExecutor([
      fakeTool({
        name: 'echo',
        inputSchema: echoSchema,
        execute: async (input, ctx) => {
          seen = ctx;
          return String(input['text']);
        },
      }),
    ]);
    const outcome = await executor.execute({ id: 't1', name: 'echo', input: { text: 'hello' } }, context());
    expect(outcome).toEqual({ content: 'hello', isError: false, durationMs: expect.any(Number) });
    expect(outcome.durationMs).toBeGreaterThanOrEqual(0);
    expect(seen?.conversationId).toBe('conv-1');
    expect(seen?.signal.aborted).toBe(false);
  });

  it('reports an unknown tool as an error, without throwing', async () => {
    const outcome = await new ToolExecutor([]).execute({ id: 't1', name: 'ghost', input: {} }, context());
    expect(outcome.isError).toBe(true);
    expect(outcome.content).toMatch(/Unknown tool "ghost"/);
  });

  describe('input validation', () => {
    const nestedSchema = {
      type: 'object',
      properties: {
        expression: { type: 'string' },
        unit: { enum: ['cm', 'in'] },
        points: {
          type: 'array',
          items: { type: 'object', properties: { x: { type: 'number' } }, required: ['x'] },
        },
        'odd key': { type: 'integer', minimum: 1 },
      },
      required: ['expression'],
      additionalProperties: false,
    };

    it.each([
      [{ expression: 42 }, ['input.expression: must be string']],
      [{}, ['input.expression: is required']],
      [{ expression: '1', extra: true }, ['input.extra: is not an allowed property']],
      [{ expression: '1', unit: 'mm' }, ['input.unit: must be one of "cm", "in"']],
      [{ expression: '1', points: [{ x: 1 }, { x: 'a' }] }, ['input.points[1].x: must be number']],
      [{ expression: '1', points: [{}] }, ['input.points[0].x: is required']],
      [{ expression: '1', 'odd key': 0 }, ['input["odd key"]: must be >= 1']],
      [{ expression: 1, extra: 2 }, ['input.expression: must be string', 'input.extra: is not an allowed property']],
      ['not an object', ['input: must be object']],
    ])('names the field for %j and never calls execute', async (input, problems) => {
      const execute = vi.fn(async () => 'ran');
      const executor = new ToolExecutor([fakeTool({ name: 'calc', inputSchema: nestedSchema, execute })]);
      const outcome = await executor.execute(
        { id: 't1', name: 'calc', input: input as Record<string, unknown> },
        context(),
      );
      expect(outcome.isError).toBe(true);
      expect(outcome.content).toContain('Invalid input for tool "calc"');
      for (const problem of problems) expect(outcome.content).toContain(problem);
      expect(execute).not.toHaveBeenCalled();
    });

    it('leaves the input untouched', async () => {
      const schema = { type: 'object', properties: { n: { type: 'number', default: 3 } } };
      let received: Record<string, unknown> | undefined;
      const executor = new ToolExecutor([
        fakeTool({ name: 'a', inputSchema: schema, execute: async (input) => ((received = input), 'ok') }),
      ]);
      await executor.execute({ id: 't1', name: 'a', input: {} }, context());
      expect(received).toEqual({});
    });
  });

  it.each([
    ['an Error', () => Promise.reject(new Error('disk on fire')), /Tool "boom" failed: disk on fire\.$/],
    [
      'a synchronous throw',
      () => {
        throw new Error('sync trouble');
      },
      /Tool "boom" failed: sync trouble/,
    ],
    ['a string', () => Promise.reject('plain string'), /Tool "boom" failed: plain string/],
    ['an object', () => Promise.reject({}), /Tool "boom" failed: an unknown error occurred\.$/],
  ])('turns %s thrown by the tool into an error outcome', async (_label, execute, message) => {
    const executor = new ToolExecutor([fakeTool({ name: 'boom', execute })]);
    const outcome = await executor.execute({ id: 't1', name: 'boom', input: {} }, context());
    expect(outcome.isError).toBe(true);
    expect(outcome.content).toMatch(message);
  });

  it('rejects a result that is not text', async () => {
    const execute = async (): Promise<string> => 42 as unknown as string;
    const executor = new ToolExecutor([fakeTool({ name: 'num', execute })]);
    const outcome = await executor.execute({ id: 't1', name: 'num', input: {} }, context());
    expect(outcome).toMatchObject({ isError: true, content: expect.stringMatching(/returned number/) });
  });

  describe('timeout', () => {
    it('does not wait for a tool that ignores its signal, and aborts that signal', async () => {
      let toolSignal: AbortSignal | undefined;
      const executor = new ToolExecutor([
        fakeTool({
          name: 'hang',
          timeoutMs: 5,
          execute: (_input, ctx) => {
            toolSignal = ctx.signal;
            return new Promise<string>(() => undefined);
          },
        }),
      ]);
      const outcome = await executor.execute({ id: 't1', name: 'hang', input: {} }, context());
      expect(outcome.isError).toBe(true);
      expect(outcome.content).toMatch(/Tool "hang" timed out after 5 ms/);
      expect(toolSignal?.aborted).toBe(true);
      expect((toolSignal?.reason as Error).name).toBe('TimeoutError');
    });

    it('reads the same when the tool honours its signal and rejects', async () => {
      const executor = new ToolExecutor(
        [
          fakeTool({
            name: 'polite',
            execute: (_input, ctx) =>
              new Promise<string>((_resolve, reject) => {
                ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason as Error));
              }),
          }),
        ],
        { defaultTimeoutMs: 3 },
      );
      const outcome = await executor.execute({ id: 't1', name: 'polite', input: {} }, context());
      expect(outcome).toMatchObject({ isError: true, content: expect.stringMatching(/timed out after 3 ms/) });
    });

    it('prefers the tool timeout over the default', async () => {
      const executor = new ToolExecutor(
        [fakeTool({ name: 'hang', timeoutMs: 2, execute: () => new Promise<string>(() => undefined) })],
        { defaultTimeoutMs: 60_000 },
      );
      const outcome = await executor.execute({ id: 't1', name: 'hang', input: {} }, context());
      expect(outcome.content).toMatch(/timed out after 2 ms/);
    });
  });

  describe('abort', () => {
    it('stops waiting as soon as the caller aborts, and aborts the tool signal', async () => {
      const started = deferred<AbortSignal>();
      const executor = new ToolExecutor([
        fakeTool({
          name: 'slow',
          execute: (_input, ctx) => {
            started.resolve(ctx.signal);
            return new Promise<string>(() => undefined);
          },
        }),
      ]);
      const controller = new AbortController();
      const pending = executor.execute({ id: 't1', name: 'slow', input: {} }, context(controller.signal));
      const toolSignal = await started.promise;
      controller.abort();
      const outcome = await pending;
      expect(outcome.isError).toBe(true);
      expect(outcome.content).toMatch(/Tool "slow" was cancelled/);
      expect(toolSignal.aborted).toBe(true);
    });

    it('does not start a tool when the caller has already aborted', async () => {
      const execute = vi.fn(async () => 'ran');
      const executor = new ToolExecutor([fakeTool({ name: 'a', execute })]);
      const outcome = await executor.execute({ id: 't1', name: 'a', input: {} }, context(AbortSignal.abort()));
      expect(outcome).toMatchObject({ isError: true, content: expect.stringMatching(/cancelled/) });
      expect(execute).not.toHaveBeenCalled();
    });
  });
});
