// MCP tools from a streamable HTTP server on 127.0.0.1, through the real ToolExecutor.
import { afterEach, describe, expect, it } from 'vitest';
import { startMcpSources } from '../../src/tools/mcp/index.ts';
import { ToolExecutor } from '../../src/tools/tool-executor.ts';
import type { ToolOutcome } from '../../src/tools/types.ts';
import { context } from './fixtures.ts';
import { FAST_RECONNECT, recordingLogger, waitFor } from './fixtures/mcp-harness.ts';
import { startHttpMcpServer, type HttpMcpServer } from './fixtures/mcp-http-server.ts';

const run = (executor: ToolExecutor, name: string, input: Record<string, unknown> = {}): Promise<ToolOutcome> =>
  executor.execute({ id: `call-${name}`, name, input }, context());

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

async function setUp(): Promise<{ server: HttpMcpServer; executor: ToolExecutor; logger: ReturnType<typeof recordingLogger> }> {
  let server = await startHttpMcpServer();
  cleanup.push(() => server.close());
  const logger = recordingLogger();
  const sources = await startMcpSources([{ transport: 'http', name: 'web', url: server.url }], { logger, ...FAST_RECONNECT });
  const executor = new ToolExecutor([], { sources, logger });
  cleanup.push(() => executor.close());
  return {
    get server() {
      return server;
    },
    set server(next) {
      server = next;
    },
    executor,
    logger,
  };
}

describe('MCP tools over streamable HTTP', () => {
  it('lists namespaced tools and runs calls', async () => {
    const { executor } = await setUp();
    expect(executor.names()).toEqual(expect.arrayContaining(['web__echo', 'web__add', 'web__fail']));
    expect(await run(executor, 'web__add', { a: 40, b: 2 })).toMatchObject({ content: '42', isError: false });
    expect(await run(executor, 'web__add', { a: 40 })).toMatchObject({ isError: true, content: expect.stringContaining('input.b: is required') });
    expect(await run(executor, 'web__fail')).toMatchObject({ isError: true, content: expect.stringContaining('the disk is on fire') });
  });

  it('lists again on tools/list_changed sent over the event stream', async () => {
    const { executor, server } = await setUp();
    await waitFor('the client to open its event stream', () => server.eventStreams() > 0);
    expect(await run(executor, 'web__add_tool', { name: 'fresh' })).toMatchObject({ content: 'added fresh', isError: false });
    await waitFor('the new tool to be listed', () => executor.has('web__fresh'));
    expect(await run(executor, 'web__fresh')).toMatchObject({ content: 'I am fresh', isError: false });
  });

  it('reports the server unavailable while it is down, and reconnects when it is back', async () => {
    const setup = await setUp();
    const { executor, logger } = setup;
    const port = setup.server.port;
    expect(await run(executor, 'web__echo', { text: 'before' })).toMatchObject({ content: 'before', isError: false });

    await setup.server.close();
    const down = await waitFor('a call to fail while the server is down', async () => {
      const outcome = await run(executor, 'web__echo', { text: 'anyone?' });
      return outcome.isError ? outcome : undefined;
    });
    expect(down.content).toMatch(/MCP server "web" .*unavailable right now/);
    expect(executor.has('web__echo')).toBe(true);

    setup.server = await startHttpMcpServer(port);
    const back = await waitFor('the client to reconnect', async () => {
      const outcome = await run(executor, 'web__echo', { text: 'after' });
      return outcome.isError ? undefined : outcome;
    });
    expect(back.content).toBe('after');
    expect(logger.entries.some((entry) => entry.level === 'warn' && /MCP server "web" (became|is) unavailable/.test(entry.message))).toBe(true);
  });
});
