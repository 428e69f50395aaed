import { describe, expect, it } from 'vitest';
import { McpConfigError, parseMcpServers } from '../../src/tools/mcp/config.ts';
import { renderCallResult } from '../../src/tools/mcp/render-result.ts';
import { exposedToolName, inNamespace } from '../../src/tools/mcp/tool-names.ts';

function problemsOf(json: string): string[] {
  try {
    parseMcpServers(json);
  } catch (error) {
    expect(error).toBeInstanceOf(McpConfigError);
    return (error as McpConfigError).problems;
  }
  throw new Error('expected parseMcpServers to throw');
}

describe('parseMcpServers', () => {
  it('reads nothing from an unset or blank variable', () => {
    expect(parseMcpServers(undefined)).toEqual([]);
    expect(parseMcpServers('  ')).toEqual([]);
    expect(parseMcpServers('[]')).toEqual([]);
  });

  it('reads stdio and HTTP servers', () => {
    const json = JSON.stringify([
      { name: 'files', command: 'node', args: ['server.js'], env: { FILES_ROOT: '/srv' } },
      { name: 'git', command: 'mcp-git' },
      { name: 'search', url: 'http://127.0.0.1:9000/mcp' },
    ]);
    expect(parseMcpServers(json)).toEqual([
      { transport: 'stdio', name: 'files', command: 'node', args: ['server.js'], env: { FILES_ROOT: '/srv' } },
      { transport: 'stdio', name: 'git', command: 'mcp-git', args: [], env: {} },
      { transport: 'http', name: 'search', url: 'http://127.0.0.1:9000/mcp' },
    ]);
  });

  it.each([
    ['invalid JSON', '[{name:', /PARLEY_MCP_SERVERS is not valid JSON .*Set it to a JSON array such as \[/],
    ['an object instead of an array', '{"name":"files"}', /must be a JSON array of servers, not an object/],
    ['an entry that is not an object', '["files"]', /PARLEY_MCP_SERVERS\[0\] must be an object like .* not a string/],
    ['a missing name', '[{"command":"node"}]', /PARLEY_MCP_SERVERS\[0\]\.name is required/],
    ['an upper-case name', '[{"name":"Files","command":"node"}]', /\[0\]\.name must be 1 to 32 characters of a-z/],
    ['a name over 32 characters', `[{"name":"${'a'.repeat(33)}","command":"node"}]`, /must be 1 to 32 characters/],
    ['a name with "__"', '[{"name":"my__files","command":"node"}]', /without "__"/],
    ['a name ending in "_"', '[{"name":"files_","command":"node"}]', /not ending in "_"/],
    ['neither command nor url', '[{"name":"files"}]', /needs "command" .* or "url"/],
    ['both command and url', '[{"name":"files","command":"node","url":"http://127.0.0.1:1/mcp"}]', /has both "command" and "url"/],
    ['an empty command', '[{"name":"files","command":" "}]', /\.command must be a non-empty string/],
    ['args that are not strings', '[{"name":"files","command":"node","args":["a",1]}]', /\.args must be an array of strings/],
    ['env that is not an object', '[{"name":"files","command":"node","env":["A=1"]}]', /\.env must be an object of strings/],
    ['an env value that is not a string', '[{"name":"files","command":"node","env":{"PORT":8080}}]', /\.env\.PORT must be a string; write numbers and booleans in double quotes too/],
    ['a bad env name', '[{"name":"files","command":"node","env":{"1X":"a"}}]', /variable name "1X"/],
    ['a URL that does not parse', '[{"name":"search","url":"not a url"}]', /\.url is not a URL/],
    ['a URL with another protocol', '[{"name":"search","url":"ws://127.0.0.1:9000/mcp"}]', /\.url must use http: or https:/],
    ['a misspelt field', '[{"name":"files","comand":"node"}]', /needs "command"/],
    ['an unknown field of a stdio server', '[{"name":"files","command":"node","cwd":"/srv"}]', /unknown field "cwd"; the fields of a stdio server are "name", "command", "args", "env"/],
    ['args on an HTTP server', '[{"name":"search","url":"http://127.0.0.1:9000/mcp","args":[]}]', /unknown field "args"; the fields of an HTTP server are "name", "url"/],
    ['a duplicate name', '[{"name":"files","command":"a"},{"name":"files","command":"b"}]', /\[1\]\.name is also the name of PARLEY_MCP_SERVERS\[0\]/],
  ])('explains %s', (_label, json, message) => {
    expect(() => parseMcpServers(json)).toThrow(message);
  });

  it('reports every problem at once', () => {
    const problems = problemsOf('[{"name":"A","command":""},{"url":"ftp://x"}]');
    expect(problems).toHaveLength(4);
    expect(problems.join('\n')).toMatch(/\[0\]\.name/);
    expect(problems.join('\n')).toMatch(/\[0\]\.command/);
    expect(problems.join('\n')).toMatch(/\[1\]\.name is required/);
    expect(problems.join('\n')).toMatch(/\[1\]\.url must use http/);
  });
});

describe('exposedToolName', () => {
  it('namespaces a tool by its server', () => {
    expect(exposedToolName('files', 'read_file')).toBe('files__read_file');
    expect(inNamespace('files', 'files__read_file')).toBe(true);
    expect(inNamespace('files', 'filesystem__read')).toBe(false);
  });

  it('cleans and shortens names the model would reject, keeping them distinct', () => {
    const dotted = exposedToolName('files', 'read.file');
    const underscored = exposedToolName('files', 'read_file');
    expect(dotted).toMatch(/^files__read_file_[0-9a-f]{8}$/);
    expect(dotted).not.toBe(underscored);
    const long = exposedToolName('a'.repeat(32), 'x'.repeat(200));
    expect(long).toMatch(/^[a-zA-Z0-9_-]{1,64}$/);
    expect(long.startsWith(`${'a'.repeat(32)}__`)).toBe(true);
    expect(exposedToolName('a'.repeat(32), `${'x'.repeat(199)}y`)).not.toBe(long);
  });
});

describe('renderCallResult', () => {
  it('joins text and names other content briefly', () => {
    const result = renderCallResult({
      content: [
        { type: 'text', text: 'first' },
        { type: 'image', data: 'AAAA', mimeType: 'image/png' },
        { type: 'audio', data: 'AAAAAAAA', mimeType: 'audio/wav' },
        { type: 'resource', resource: { uri: 'file:///a.txt', mimeType: 'text/plain', text: 'inside' } },
        { type: 'resource', resource: { uri: 'file:///b.bin', blob: 'AAAA' } },
        { type: 'resource_link', name: 'report', uri: 'file:///r.pdf', mimeType: 'application/pdf' },
      ],
    });
    expect(result).toEqual({
      isError: false,
      content: [
        'first',
        '[image: image/png, 3 bytes; not shown]',
        '[audio: audio/wav, 6 bytes; not shown]',
        '[resource file:///a.txt, text/plain]\ninside',
        '[resource file:///b.bin, 3 bytes of binary data; not shown]',
        '[resource link: report file:///r.pdf (application/pdf)]',
      ].join('\n'),
    });
  });

  it('carries isError, falls back to structured content, and accepts the old toolResult form', () => {
    expect(renderCallResult({ content: [{ type: 'text', text: 'bad' }], isError: true })).toEqual({ content: 'bad', isError: true });
    expect(renderCallResult({ content: [], structuredContent: { n: 1 } })).toEqual({ content: '{"n":1}', isError: false });
    expect(renderCallResult({ toolResult: { ok: true } })).toEqual({ content: '{"ok":true}', isError: false });
  });

  it('cuts a result that is too long, and says so', () => {
    const { content } = renderCallResult({ content: [{ type: 'text', text: 'x'.repeat(50) }] }, 10);
    expect(content).toBe(`${'x'.repeat(10)}\n[… 40 more characters cut: the result exceeded 10 characters]`);
  });
});
