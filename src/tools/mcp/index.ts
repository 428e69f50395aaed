import type { ToolLogger, ToolSource } from '../types.ts';
import type { McpServerConfig } from './config.ts';
import { McpToolSource, type McpToolSourceOptions } from './mcp-tool-source.ts';

export { MCP_SERVERS_ENV, McpConfigError, parseMcpServers } from './config.ts';
export type { McpHttpServerConfig, McpServerConfig, McpStdioServerConfig } from './config.ts';
export { McpToolSource } from './mcp-tool-source.ts';
export type { McpSourceState, McpToolSourceOptions } from './mcp-tool-source.ts';

export interface StartMcpSourcesOptions extends McpToolSourceOptions {
  logger?: ToolLogger;
}

/**
 * One McpToolSource per configured server, all connecting at once. Resolves when every first
 * attempt has succeeded or failed, so start-up never waits longer than one connect timeout and
 * never fails because a server is down: a server that did not come up has been logged as a
 * warning and keeps being retried in the background.
 */
export async function startMcpSources(servers: readonly McpServerConfig[], options: StartMcpSourcesOptions = {}): Promise<McpToolSource[]> {
  const sources = servers.map((server) => new McpToolSource(server, options));
  await Promise.all(sources.map((source) => source.start()));
  return sources;
}

/** Closes sources concurrently; a source's close never rejects. */
export async function closeToolSources(sources: readonly ToolSource[]): Promise<void> {
  await Promise.allSettled(sources.map((source) => source.close()));
}
