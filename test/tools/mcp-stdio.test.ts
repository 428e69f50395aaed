// MCP tools from real server processes over stdio, through the real ToolExecutor.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { builtinTools } from '../../src/tools/builtin/index.ts';
import { McpToolSource, startMcpSources } from '../../src/tools/mcp/index.ts';
import { ToolExecutor } from '../../src/tools/tool-executor.ts';
import type { ToolOutcome } from '../../src/tools/types.ts';
import { context } from './fixtures.ts';
import { FAST_RECONNECT, NODE, isAlive, liveChildren, recordingLogger, stdioServer, waitFor } from './fixtures/mcp-harness.ts';

const run = (executor: ToolExecutor, name: string, input: Record<string, unknown> = {}, signal?: AbortSignal): Promise<ToolOutcome> =>
  executor.execute({ id: `call-${name}`, name, input }, context(signal));

/** Every executor a test makes; closed after each test so no server process outlives it. */
const open: ToolExecutor[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((executor) => executor.close()));
});
afterAll(async () => {
  const children = liveChildren();
  if (children !== null) await waitFor('every MCP server process to end', () => liveChildren()?.length === 0);
});

async function executorFor(...servers: Parameters<typeof stdioServer>[]): Promise<{ executor: ToolExecutor; logger: ReturnType<typeof recordingLogger>; sources: McpToolSource[] }> {
  const logger = recordingLogger();
  const sources = await startMcpSources(servers.map((args) => stdioServer(...args)), { logger, ...FAST_RECONNECT });
  const executor = new ToolExecutor(builtinTools(), { sources, logger });
  open.push(executor);
  return { executor, logger, sources };
}

describe('MCP tools over stdio', () => {
  let executor: ToolExecutor;
  let sources: McpToolSource[];
  beforeAll(async () => {
    const logger = recordingLogger();
    sources = await startMcpSources([stdioServer('fx', { env: { FIXTURE_GREETING: 'hello from env' } })], { logger, ...FAST_RECONNECT });
    executor = new ToolExecutor(builtinTools(), { sources, logger });
  });
  afterAll(() => executor.close());

  it('lists the server tools namespaced by server, beside the in-process tools', () => {
    const names = executor.names();
    expect(names.slice(0, 2)).toEqual(['current_time', 'calculate']);
    expect(names).toEqual(expect.arrayContaining(['fx__echo', 'fx__add', 'fx__fail', 'fx__picture', 'fx__add_tool']));
    expect(executor.has('fx__echo')).toBe(true);
    expect(executor.kindOf('fx__echo')).toBe('mcp');
    expect(executor.kindOf('calculate')).toBe('server');
    expect(executor.kindOf('echo')).toBeNull();
    expect(executor.definitions(['fx__add'])).toEqual([
      {
        name: 'fx__add',
        description: 'Adds two numbers.',
        // Without the server's $schema: it tells the model nothing.
        input_schema: { type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } }, required: ['a', 'b'] },
      },
    ]);
  });

  it('gives names the model would reject a valid name, and calls the original', async () => {
    const dotted = executor.names().find((name) => name.startsWith('fx__dotted'));
    const long = executor.names().find((name) => name.startsWith('fx__summarise'));
    expect(dotted).toMatch(/^fx__dotted_name_[0-9a-f]{8}$/);
    expect(long).toMatch(/^[a-zA-Z0-9_-]{1,64}$/);
    expect(await run(executor, dotted!)).toMatchObject({ content: 'dotted', isError: false });
    expect(await run(executor, long!)).toMatchObject({ content: 'long', isError: false });
  });

  it('runs a call round trip', async () => {
    expect(await run(executor, 'fx__echo', { text: 'hi there' })).toEqual({ content: 'hi there', isError: false, durationMs: expect.any(Number) });
    expect(await run(executor, 'fx__add', { a: 2, b: 3.5 })).toMatchObject({ content: '5.5', isError: false });
    expect(await run(executor, 'fx__env')).toMatchObject({ content: 'hello from env', isError: false });
    const outcomes = await executor.executeAll(
      [
        { id: 'a', name: 'fx__add', input: { a: 1, b: 1 } },
        { id: 'b', name: 'calculate', input: { expression: '6*7' } },
        { id: 'c', name: 'fx__echo', input: { text: 'x' } },
      ],
      context(),
    );
    expect(outcomes.map((o) => o.content)).toEqual(['2', '42', 'x']);
  });

  it('validates input against the tool schema before calling the server', async () => {
    const before = JSON.parse((await run(executor, 'fx__stats')).content) as Record<string, number>;
    const outcome = await run(executor, 'fx__add', { a: 'two', b: 2 });
    expect(outcome.isError).toBe(true);
    expect(outcome.content).toContain('Invalid input for tool "fx__add": input.a: must be number');
    const missing = await run(executor, 'fx__echo', {});
    expect(missing.content).toContain('input.text: is required');
    const after = JSON.parse((await run(executor, 'fx__stats')).content) as Record<string, number>;
    expect(after['add']).toBe(before['add']);
    expect(after['echo']).toBe(before['echo']);
  });

  it('reports a tool that throws as an error outcome', async () => {
    expect(await run(executor, 'fx__fail')).toMatchObject({ isError: true, content: expect.stringContaining('the disk is on fire') });
    expect(await run(executor, 'fx__echo', { text: 'still fine' })).toMatchObject({ content: 'still fine', isError: false });
  });

  it('describes non-text content briefly', async () => {
    expect(await run(executor, 'fx__picture')).toMatchObject({ content: 'A pixel:\n[image: image/png, 68 bytes; not shown]', isError: false });
  });

  it('treats an unlisted name in a connected server namespace as unknown', async () => {
    expect(executor.has('fx__nope')).toBe(false);
    expect(executor.mayOffer('fx__nope')).toBe(false);
    expect(await run(executor, 'fx__nope')).toMatchObject({ isError: true, content: expect.stringMatching(/^Unknown tool "fx__nope"/) });
  });

  it('cancels a call when the prompt is cancelled', async () => {
    const controller = new AbortController();
    const pending = run(executor, 'fx__sleep', { ms: 60_000 }, controller.signal);
    await waitFor('the call to reach the server', async () => {
      const stats = JSON.parse((await run(executor, 'fx__stats')).content) as Record<string, number>;
      return (stats['sleep'] ?? 0) >= 1;
    });
    controller.abort();
    expect(await pending).toMatchObject({ isError: true, content: expect.stringContaining('was cancelled') });
  });
});

describe('MCP server failures', () => {
  it('turns calls into "unavailable" outcomes while a killed server restarts, then lists and works again', async () => {
    const { executor, logger } = await executorFor(['victim']);
    expect(await run(executor, 'victim__add_tool', { name: 'extra' })).toMatchObject({ isError: false });
    await waitFor('the added tool to be listed', () => executor.has('victim__extra'));
    const pid = Number((await run(executor, 'victim__pid')).content);
    expect(isAlive(pid)).toBe(true);

    process.kill(pid, 'SIGKILL');
    const down = await waitFor('a call to fail while the server is away', async () => {
      const outcome = await run(executor, 'victim__echo', { text: 'anyone?' });
      return outcome.isError ? outcome : undefined;
    });
    expect(down.content).toMatch(/MCP server "victim" .*unavailable right now; Parley is reconnecting to it/);

    const back = await waitFor('the restarted server to answer', async () => {
      const outcome = await run(executor, 'victim__pid');
      return outcome.isError ? undefined : outcome;
    });
    expect(Number(back.content)).not.toBe(pid);
    expect(isAlive(pid)).toBe(false);
    // The new process never had the added tool: the list was taken again after the restart.
    expect(executor.has('victim__extra')).toBe(false);
    expect(await run(executor, 'victim__echo', { text: 'back' })).toMatchObject({ content: 'back', isError: false });
    expect(logger.entries).toContainEqual(
      expect.objectContaining({ level: 'warn', message: expect.stringContaining('MCP server "victim" became unavailable; reconnecting in') }),
    );
    expect(logger.entries).toContainEqual(expect.objectContaining({ level: 'info', message: 'MCP server "victim" is available again' }));
  });

  it('lists again when the server says its tools changed', async () => {
    const { executor } = await executorFor(['grow']);
    expect(executor.has('grow__late')).toBe(false);
    const revision = executor.names().length;
    expect(await run(executor, 'grow__add_tool', { name: 'late' })).toMatchObject({ content: 'added late', isError: false });
    await waitFor('tools/list_changed to add the tool', () => executor.has('grow__late'));
    expect(executor.names()).toHaveLength(revision + 1);
    expect(executor.definitions(['grow__late'])[0]?.description).toBe('Added at run time as late.');
    expect(await run(executor, 'grow__late')).toMatchObject({ content: 'I am late', isError: false });
  });

  it('stops a call at its timeout and keeps the server usable', async () => {
    const logger = recordingLogger();
    const source = new McpToolSource(stdioServer('slow'), { logger, callTimeoutMs: 200, ...FAST_RECONNECT });
    await source.start();
    const executor = new ToolExecutor([], { sources: [source] });
    open.push(executor);
    expect(await run(executor, 'slow__sleep', { ms: 60_000 })).toMatchObject({
      isError: true,
      content: expect.stringContaining('Tool "slow__sleep" timed out after 200 ms'),
    });
    expect(await run(executor, 'slow__echo', { text: 'awake' })).toMatchObject({ content: 'awake', isError: false });
  });

  it('starts without a server whose command does not exist, warns, and keeps the others', async () => {
    const { executor, logger, sources } = await executorFor(['ghost', { command: '/nonexistent/mcp-server' }], ['ok']);
    expect(sources.map((source) => source.state)).toEqual(['reconnecting', 'connected']);
    const warning = logger.entries.find((entry) => entry.level === 'warn' && entry.fields['server'] === 'ghost');
    expect(warning?.message).toMatch(/^MCP server "ghost" is unavailable; retrying in/);
    expect(warning?.fields['error']).toMatch(/ENOENT/);

    expect(executor.names().some((name) => name.startsWith('ghost__'))).toBe(false);
    expect(executor.has('ghost__read')).toBe(false);
    expect(executor.mayOffer('ghost__read')).toBe(true);
    expect(executor.mayOffer('nobody__read')).toBe(false);
    expect(await run(executor, 'ghost__read')).toMatchObject({
      isError: true,
      content: expect.stringMatching(/^The MCP server "ghost" that provides tool "ghost__read" is unavailable right now/),
    });
    expect(await run(executor, 'ok__echo', { text: 'fine' })).toMatchObject({ content: 'fine', isError: false });
  });

  it('reports what a server that exits at start wrote to stderr', async () => {
    const { logger, sources } = await executorFor(['broken', { command: NODE, args: ['-e', 'console.error("FILES_ROOT is not set"); process.exit(3)'] }]);
    expect(sources[0]?.state).toBe('reconnecting');
    expect(logger.entries).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        fields: expect.objectContaining({
          server: 'broken',
          error: 'the server process exited or closed its standard output',
          stderr: 'FILES_ROOT is not set',
        }),
      }),
    );
  });

  it('picks up a server that was down at start-up once it comes up', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'parley-mcp-'));
    try {
      const marker = path.join(dir, 'ready');
      const { executor } = await executorFor(['late', { env: { FIXTURE_REQUIRE_FILE: marker } }]);
      expect(executor.has('late__echo')).toBe(false);
      await writeFile(marker, '');
      await waitFor('the server to come up and be listed', () => executor.has('late__echo'));
      expect(await run(executor, 'late__echo', { text: 'finally' })).toMatchObject({ content: 'finally', isError: false });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('ends the server process on close', async () => {
    const { executor } = await executorFor(['brief']);
    const pid = Number((await run(executor, 'brief__pid')).content);
    expect(isAlive(pid)).toBe(true);
    await executor.close();
    await executor.close();
    await waitFor('the server process to end', () => !isAlive(pid));
    expect(await run(executor, 'brief__echo', { text: 'x' })).toMatchObject({ isError: true, content: expect.stringContaining('unavailable') });
  });
});
