import { createHash } from 'node:crypto';

const TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/;
const NAMESPACE_SEPARATOR = '__';
const HASH_LENGTH = 8;

/**
 * The name the model sees for an MCP server's tool: `<server>__<tool>`. MCP allows longer names
 * and more characters than the Anthropic API (64 of [a-zA-Z0-9_-]); such a name is cleaned,
 * shortened, and given a hash of the original, so that two originals cannot map to one name.
 */
export function exposedToolName(server: string, tool: string): string {
  const plain = `${server}${NAMESPACE_SEPARATOR}${tool}`;
  if (TOOL_NAME.test(plain)) return plain;
  const hash = createHash('sha256').update(tool).digest('hex').slice(0, HASH_LENGTH);
  const room = 64 - server.length - NAMESPACE_SEPARATOR.length - 1 - HASH_LENGTH;
  const cleaned = tool.replace(/[^a-zA-Z0-9_-]/g, '_').slice(0, Math.max(0, room));
  return `${server}${NAMESPACE_SEPARATOR}${cleaned}_${hash}`;
}

/** True when `name` lies in the namespace of `server` (see the server name rules in config.ts). */
export function inNamespace(server: string, name: string): boolean {
  return name.startsWith(`${server}${NAMESPACE_SEPARATOR}`);
}
