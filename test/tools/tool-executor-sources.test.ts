// The ToolExecutor with a ToolSource written here: the contract between the executor and
// sources of changing tool lists, without an MCP server in the way.
import { describe, expect, it } from 'vitest';
import { ToolExecutor } from '../../src/tools/tool-executor.ts';
import type { SourceCallContext, SourceCallResult, SourceTool, ToolSource } from '../../src/tools/types.ts';
import { context, fakeTool } from './fixtures.ts';
import { recordingLogger } from './fixtures/mcp-harness.ts';

class ListSource implements ToolSource {
  readonly kind = 'mcp' as const;
  revision = 0;
  closes = 0;
  down = false;
  readonly calls: Array<{ name: string; input: Record<string, unknown>; timeoutMs: number }> = [];
  #tools: SourceTool[];
  readonly #prefix: string;
  readonly #answer: (name: string, input: Record<string, unknown>) => Promise<SourceCallResult>;

  constructor(prefix: string, tools: SourceTool[], answer?: (name: string, input: Record<string, unknown>) => Promise<SourceCallResult>) {
    this.#prefix = prefix;
    this.#tools = tools;
    this.#answer = answer ?? (async (name) => ({ content: `ran ${name}`, isError: false }));
  }

  set(tools: SourceTool[]): void {
    this.#tools = tools;
    this.revision++;
  }

  tools(): readonly SourceTool[] {
    return this.#tools;
  }

  explainUnlisted(name: string): string | null {
    return this.down && name.startsWith(this.#prefix) ? `${this.#prefix} is down` : null;
  }

  call(name: string, input: Record<string, unknown>, ctx: SourceCallContext): Promise<SourceCallResult> {
    this.calls.push({ name, input, timeoutMs: ctx.timeoutMs });
    return this.#answer(name, input);
  }

  async close(): Promise<void> {
    this.closes++;
  }
}

const tool = (name: string, overrides: Partial<SourceTool> = {}): SourceTool => ({
  name,
  description: `The ${name} tool.`,
  inputSchema: { type: 'object', properties: { n: { type: 'number' } }, additionalProperties: false },
  ...overrides,
});

describe('ToolExecutor with sources', () => {
  it('offers source tools after the in-process ones and follows the source list as it changes', async () => {
    const source = new ListSource('s__', [tool('s__one')]);
    const executor = new ToolExecutor([fakeTool({ name: 'local' })], { sources: [source] });
    expect(executor.names()).toEqual(['local', 's__one']);
    expect(executor.kindOf('s__one')).toBe('mcp');

    source.set([tool('s__one'), tool('s__two')]);
    expect(executor.names()).toEqual(['local', 's__one', 's__two']);
    expect(await executor.execute({ id: 'a', name: 's__two', input: { n: 1 } }, context())).toMatchObject({ content: 'ran s__two', isError: false });

    source.set([]);
    expect(executor.has('s__one')).toBe(false);
    expect(() => executor.definitions(['s__one'])).toThrow(/Unknown tool "s__one"/);
  });

  it('validates input before calling the source, and passes the timeout', async () => {
    const source = new ListSource('s__', [tool('s__one', { timeoutMs: 1234 })]);
    const executor = new ToolExecutor([], { sources: [source] });
    const bad = await executor.execute({ id: 'a', name: 's__one', input: { n: 'x' } }, context());
    expect(bad).toMatchObject({ isError: true, content: expect.stringContaining('input.n: must be number') });
    expect(source.calls).toEqual([]);
    await executor.execute({ id: 'b', name: 's__one', input: { n: 2 } }, context());
    expect(source.calls).toEqual([{ name: 's__one', input: { n: 2 }, timeoutMs: 1234 }]);
  });

  it('carries isError from the source and reports a source that throws', async () => {
    const source = new ListSource('s__', [tool('s__bad'), tool('s__throws')], async (name) => {
      if (name === 's__throws') throw new Error('socket hang up');
      return { content: 'it went wrong', isError: true };
    });
    const executor = new ToolExecutor([], { sources: [source] });
    expect(await executor.execute({ id: 'a', name: 's__bad', input: {} }, context())).toMatchObject({ content: 'it went wrong', isError: true });
    expect(await executor.execute({ id: 'b', name: 's__throws', input: {} }, context())).toMatchObject({
      content: 'Tool "s__throws" failed: socket hang up.',
      isError: true,
    });
  });

  it('lets a source explain why an unlisted tool of its namespace cannot run', async () => {
    const source = new ListSource('s__', []);
    const executor = new ToolExecutor([], { sources: [source] });
    expect(executor.mayOffer('s__read')).toBe(false);
    source.down = true;
    expect(executor.mayOffer('s__read')).toBe(true);
    expect(executor.has('s__read')).toBe(false);
    expect(await executor.execute({ id: 'a', name: 's__read', input: {} }, context())).toMatchObject({ content: 's__ is down', isError: true });
    expect(await executor.execute({ id: 'b', name: 'other', input: {} }, context())).toMatchObject({ content: expect.stringMatching(/^Unknown tool/) });
  });

  it('skips, with a warning, source tools it cannot offer', () => {
    const logger = recordingLogger();
    const first = new ListSource('a__', [
      tool('local'),
      tool('bad name'),
      tool('a__ok'),
      tool('a__ok'),
      tool('a__string', { inputSchema: { type: 'string' } }),
      tool('a__broken', { inputSchema: { type: 'object', required: 'n' } }),
    ]);
    const second = new ListSource('b__', [tool('a__ok'), tool('b__fine')]);
    const executor = new ToolExecutor([fakeTool({ name: 'local' })], { sources: [first, second], logger });
    expect(executor.names()).toEqual(['local', 'a__ok', 'b__fine']);
    expect(logger.entries.map((entry) => entry.message)).toEqual([
      'tool "local" is not offered: an in-process tool has the same name',
      expect.stringMatching(/^tool "bad name" is not offered: its name does not match/),
      'tool "a__ok" is not offered: the source lists that name twice',
      'tool "a__string" is not offered: its inputSchema does not have type "object"',
      expect.stringMatching(/^tool "a__broken" is not offered: its inputSchema is invalid/),
      'tool "a__ok" is not offered: another source already offers that name',
    ]);
  });

  it('compiles each changed list afresh, so a later list may reuse an $id (a clash within one list is skipped)', () => {
    const schema = { $id: 'https://example.com/input', type: 'object', properties: {} };
    const source = new ListSource('s__', [tool('s__one', { inputSchema: schema }), tool('s__two', { inputSchema: { ...schema, properties: { n: {} } } })]);
    const logger = recordingLogger();
    const executor = new ToolExecutor([], { sources: [source], logger });
    expect(executor.names()).toEqual(['s__one']);
    source.set([tool('s__one', { inputSchema: { ...schema, properties: { m: {} } } })]);
    expect(executor.names()).toEqual(['s__one']);
    expect(logger.entries).toHaveLength(1);
  });

  it('closes every source once, however often it is closed', async () => {
    const sources = [new ListSource('a__', []), new ListSource('b__', [])];
    const executor = new ToolExecutor([], { sources });
    await Promise.all([executor.close(), executor.close()]);
    await executor.close();
    expect(sources.map((source) => source.closes)).toEqual([1, 1]);
  });
});
