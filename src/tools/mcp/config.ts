// The operator's list of MCP servers, from PARLEY_MCP_SERVERS. Parsed once at start; every
// problem is reported at once, each saying what to change. A problem names the field, never its
// value, not even part of one: env values, URLs and arguments carry tokens and passwords.

export const MCP_SERVERS_ENV = 'PARLEY_MCP_SERVERS';

export interface McpStdioServerConfig {
  transport: 'stdio';
  name: string;
  command: string;
  args: string[];
  /** Added to the few variables a server inherits by default (HOME, PATH, SHELL, TERM, USER, LOGNAME). */
  env: Record<string, string>;
}

export interface McpHttpServerConfig {
  transport: 'http';
  name: string;
  /** The server's streamable HTTP endpoint. */
  url: string;
}

export type McpServerConfig = McpStdioServerConfig | McpHttpServerConfig;

/** Thrown by parseMcpServers; `problems` holds one sentence per problem. */
export class McpConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(problems.join(' '));
    this.name = 'McpConfigError';
    this.problems = problems;
  }
}

/**
 * Server names become the prefix of tool names (`<server>__<tool>`). Without "__" inside a
 * name and without a trailing "_", the first "__" of a tool name always ends the server name,
 * so two servers can never claim the same tool name.
 */
const SERVER_NAME = /^[a-z0-9_-]{1,32}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const STDIO_FIELDS = ['name', 'command', 'args', 'env'];
const HTTP_FIELDS = ['name', 'url'];
const EXAMPLE =
  '[{"name":"files","command":"node","args":["server.js"]},{"name":"search","url":"http://127.0.0.1:9000/mcp"}]';

/** Unset or blank: no MCP servers. Throws McpConfigError naming every problem and its fix. */
export function parseMcpServers(json: string | undefined): McpServerConfig[] {
  if (json === undefined || json.trim() === '') return [];
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (error) {
    throw new McpConfigError([`${MCP_SERVERS_ENV} is not valid JSON${whereInJson(error)}. Set it to a JSON array such as ${EXAMPLE}.`]);
  }
  if (!Array.isArray(value)) {
    throw new McpConfigError([`${MCP_SERVERS_ENV} must be a JSON array of servers, not ${kindOf(value)}; for example ${EXAMPLE}.`]);
  }

  const problems: string[] = [];
  const servers: McpServerConfig[] = [];
  const seen = new Map<string, number>();
  value.forEach((entry: unknown, index) => {
    const at = `${MCP_SERVERS_ENV}[${index}]`;
    const server = parseServer(entry, at, problems);
    if (!server) return;
    const earlier = seen.get(server.name);
    if (earlier !== undefined) {
      problems.push(`${at}.name is also the name of ${MCP_SERVERS_ENV}[${earlier}]; give each server its own name.`);
      return;
    }
    seen.set(server.name, index);
    servers.push(server);
  });
  if (problems.length > 0) throw new McpConfigError(problems);
  return servers;
}

function parseServer(entry: unknown, at: string, problems: string[]): McpServerConfig | null {
  if (!isRecord(entry)) {
    problems.push(`${at} must be an object like {"name":"files","command":"node","args":["server.js"]}, not ${kindOf(entry)}.`);
    return null;
  }
  const before = problems.length;
  const name = parseName(entry['name'], `${at}.name`, problems);
  const hasCommand = entry['command'] !== undefined;
  const hasUrl = entry['url'] !== undefined;
  if (hasCommand && hasUrl) {
    problems.push(`${at} has both "command" and "url"; keep "command" for a server Parley starts (stdio), or "url" for one it reaches over HTTP.`);
    return null;
  }
  if (!hasCommand && !hasUrl) {
    problems.push(`${at} needs "command" (a server Parley starts and talks to over stdio) or "url" (a streamable HTTP endpoint).`);
    return null;
  }
  const allowed = hasCommand ? STDIO_FIELDS : HTTP_FIELDS;
  for (const key of Object.keys(entry)) {
    if (!allowed.includes(key)) {
      const why = hasCommand ? 'a stdio server' : 'an HTTP server';
      problems.push(`${at} has an unknown field "${key}"; the fields of ${why} are ${allowed.map((f) => `"${f}"`).join(', ')}.`);
    }
  }

  if (hasUrl) {
    const url = parseUrl(entry['url'], `${at}.url`, problems);
    return problems.length === before && name !== null && url !== null ? { transport: 'http', name, url } : null;
  }
  const command = entry['command'];
  if (typeof command !== 'string' || command.trim() === '') {
    problems.push(`${at}.command must be a non-empty string naming the program to run, such as "node" or "/usr/local/bin/mcp-files".`);
  }
  const args = parseArgs(entry['args'], `${at}.args`, problems);
  const env = parseEnv(entry['env'], `${at}.env`, problems);
  if (problems.length > before || name === null || typeof command !== 'string') return null;
  return { transport: 'stdio', name, command, args, env };
}

function parseName(value: unknown, at: string, problems: string[]): string | null {
  const rule = '1 to 32 characters of a-z, 0-9, "_" and "-", without "__" and not ending in "_" (tools are named <server>__<tool>)';
  if (typeof value !== 'string') {
    problems.push(`${at} is required: a string of ${rule}.`);
    return null;
  }
  if (!SERVER_NAME.test(value) || value.includes('__') || value.endsWith('_')) {
    problems.push(`${at} must be ${rule}.`);
    return null;
  }
  return value;
}

function parseUrl(value: unknown, at: string, problems: string[]): string | null {
  const fix = 'a streamable HTTP endpoint such as "http://127.0.0.1:9000/mcp"';
  if (typeof value !== 'string') {
    problems.push(`${at} must be a string: ${fix}.`);
    return null;
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    problems.push(`${at} is not a URL; use ${fix}.`);
    return null;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    problems.push(`${at} must use http: or https:; use ${fix}.`);
    return null;
  }
  return value;
}

function parseArgs(value: unknown, at: string, problems: string[]): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((arg) => typeof arg === 'string')) {
    problems.push(`${at} must be an array of strings, such as ["server.js", "--root", "/srv/files"].`);
    return [];
  }
  return value;
}

function parseEnv(value: unknown, at: string, problems: string[]): Record<string, string> {
  if (value === undefined) return {};
  if (!isRecord(value)) {
    problems.push(`${at} must be an object of strings, such as {"FILES_ROOT": "/srv/files"}.`);
    return {};
  }
  const env: Record<string, string> = {};
  for (const [key, item] of Object.entries(value)) {
    if (!ENV_NAME.test(key)) {
      problems.push(`${at} has the variable name ${JSON.stringify(key)}; use letters, digits and "_", not starting with a digit.`);
    } else if (typeof item !== 'string') {
      problems.push(`${at}.${key} must be a string; write numbers and booleans in double quotes too, as in "8080".`);
    } else {
      env[key] = item;
    }
  }
  return env;
}

/**
 * Where JSON.parse stopped, from its message. Only the position is kept: for some mistakes V8
 * quotes the text around it.
 */
function whereInJson(error: unknown): string {
  const message = error instanceof Error ? error.message : '';
  const line = /\(line (\d+) column (\d+)\)/.exec(message);
  if (line) return ` (line ${line[1]}, column ${line[2]})`;
  const position = /at position (\d+)/.exec(message);
  return position ? ` (at character ${Number(position[1]) + 1})` : '';
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}
