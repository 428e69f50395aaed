// Configuration problems are printed at start and end up in logs, and settings carry secrets: a
// password in DATABASE_URL, a token in an MCP server's env, URL or arguments. A problem names the
// setting and what is wrong with it; it never quotes the value back, not even part of it.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.ts';

const MARKER = 'S3CRET-MARKER';
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The texts a failed loadConfig shows: its message and every problem. */
function complaints(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return [(error as ConfigError).message, ...(error as ConfigError).problems];
  }
  return [];
}

// Part of the marker is enough to fail: JSON.parse's message quotes a few characters around a
// mistake. Case-insensitive: MCP server names must be lower case, so a marker planted there is too.
const FRAGMENT = MARKER.slice(0, 6).toLowerCase();
const quoting = (texts: string[]) => texts.filter((text) => text.toLowerCase().includes(FRAGMENT));

const mcp = (servers: unknown) => ({ PARLEY_MCP_SERVERS: JSON.stringify(servers) });

describe('configuration problems never quote a value', () => {
  // Read from the source, so that a variable added later is covered without editing this test.
  const variables = [...new Set(readFileSync(path.join(ROOT, 'src/config.ts'), 'utf8').match(/(?<=')[A-Z][A-Z0-9_]*(?=')/g))];

  it('for every variable set to the marker', () => {
    expect(variables).toEqual(expect.arrayContaining(['PORT', 'DATABASE_URL', 'ANTHROPIC_BASE_URL', 'PARLEY_MCP_SERVERS', 'PARLEY_LEASE_MS']));
    const refused: string[] = [];
    for (const name of variables) {
      const texts = complaints({ ANTHROPIC_API_KEY: 'sk-test', [name]: MARKER });
      if (texts.length > 0) refused.push(name);
      expect(quoting(texts), name).toEqual([]);
      // Named instead.
      if (texts.length > 0) expect(texts.join('\n'), name).toContain(name);
    }
    expect(refused).toEqual(expect.arrayContaining(['PORT', 'DATABASE_URL', 'ANTHROPIC_BASE_URL', 'PARLEY_MCP_SERVERS', 'LOG_LEVEL', 'CORS_ORIGINS']));
  });

  it.each<[string, Record<string, string>, string]>([
    ['DATABASE_URL of another protocol', { DATABASE_URL: `mysql://parley:${MARKER}@db.internal:3306/parley` }, 'DATABASE_URL'],
    ['DATABASE_URL that does not parse', { DATABASE_URL: `postgres://parley:${MARKER}@db internal:5432/parley` }, 'DATABASE_URL'],
    ['ANTHROPIC_BASE_URL of another protocol', { ANTHROPIC_API_KEY: `sk-${MARKER}`, ANTHROPIC_BASE_URL: `ftp://${MARKER}@proxy.internal` }, 'ANTHROPIC_BASE_URL'],
    ['ANTHROPIC_BASE_URL without a key', { ANTHROPIC_BASE_URL: `https://proxy.internal/${MARKER}` }, 'ANTHROPIC_BASE_URL'],
    ['a CORS origin with a path', { CORS_ORIGINS: `https://app.example.com/${MARKER}` }, 'CORS_ORIGINS'],
    ['MCP JSON cut short inside an env value', { PARLEY_MCP_SERVERS: `[{"name":"files","command":"node","env":{"TOKEN":"${MARKER}` }, 'PARLEY_MCP_SERVERS'],
    ['MCP JSON with an unquoted env value', { PARLEY_MCP_SERVERS: `[{"name":"files","command":"node","env":{"TOKEN":${MARKER}}}]` }, 'PARLEY_MCP_SERVERS'],
    ['MCP JSON that is a string', mcp(MARKER), 'PARLEY_MCP_SERVERS'],
    ['an MCP entry that is a string', mcp([MARKER]), 'PARLEY_MCP_SERVERS[0]'],
    ['an MCP name that breaks the rule', mcp([{ name: MARKER, command: 'node' }]), 'PARLEY_MCP_SERVERS[0].name'],
    ['an MCP name used twice', mcp([{ name: MARKER.toLowerCase(), command: 'a' }, { name: MARKER.toLowerCase(), command: 'b' }]), 'PARLEY_MCP_SERVERS[1].name'],
    ['an MCP command that is not a string', mcp([{ name: 'files', command: [MARKER] }]), 'PARLEY_MCP_SERVERS[0].command'],
    ['MCP args with a number', mcp([{ name: 'files', command: 'node', args: ['--token', MARKER, 1] }]), 'PARLEY_MCP_SERVERS[0].args'],
    ['MCP args that are a string', mcp([{ name: 'files', command: 'node', args: `--token=${MARKER}` }]), 'PARLEY_MCP_SERVERS[0].args'],
    ['an MCP env that is an array', mcp([{ name: 'files', command: 'node', env: [`TOKEN=${MARKER}`] }]), 'PARLEY_MCP_SERVERS[0].env'],
    ['an MCP env value that is an array', mcp([{ name: 'files', command: 'node', env: { TOKEN: [MARKER] } }]), 'PARLEY_MCP_SERVERS[0].env.TOKEN'],
    ['an MCP env value that is an object', mcp([{ name: 'files', command: 'node', env: { TOKEN: { value: MARKER } } }]), 'PARLEY_MCP_SERVERS[0].env.TOKEN'],
    ['an MCP env variable with a bad name', mcp([{ name: 'files', command: 'node', env: { '1TOKEN': MARKER } }]), 'PARLEY_MCP_SERVERS[0].env'],
    ['an MCP URL that does not parse', mcp([{ name: 'search', url: `http://user:${MARKER}@mcp internal/mcp` }]), 'PARLEY_MCP_SERVERS[0].url'],
    ['an MCP URL of another protocol', mcp([{ name: 'search', url: `ws://user:${MARKER}@127.0.0.1:9000/mcp` }]), 'PARLEY_MCP_SERVERS[0].url'],
    ['an MCP URL whose scheme is the secret', mcp([{ name: 'search', url: `${MARKER.toLowerCase()}://127.0.0.1:9000/mcp` }]), 'PARLEY_MCP_SERVERS[0].url'],
    ['an MCP URL that is an object', mcp([{ name: 'search', url: { href: MARKER } }]), 'PARLEY_MCP_SERVERS[0].url'],
    ['MCP headers, which are not a field', mcp([{ name: 'search', url: 'http://127.0.0.1:9000/mcp', headers: { Authorization: `Bearer ${MARKER}` } }]), '"headers"'],
    ['an unknown MCP field of a stdio server', mcp([{ name: 'files', command: 'node', cwd: MARKER }]), '"cwd"'],
    ['an MCP entry with both command and url', mcp([{ name: 'files', command: MARKER, url: `http://${MARKER}@127.0.0.1/mcp` }]), 'PARLEY_MCP_SERVERS[0]'],
    ['an MCP entry without a name', mcp([{ command: 'node', env: { TOKEN: MARKER } }]), 'PARLEY_MCP_SERVERS[0].name'],
  ])('for %s', (_label, env, field) => {
    const texts = complaints(env);
    expect(texts).not.toEqual([]);
    expect(quoting(texts)).toEqual([]);
    expect(texts.join('\n')).toContain(field);
  });
});
