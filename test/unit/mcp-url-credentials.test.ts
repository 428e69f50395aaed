// The credentials an MCP server URL may carry never reach a log line, as written or decoded.
import { describe, expect, it } from 'vitest';
import { withoutCredentials } from '../../src/tools/mcp/mcp-tool-source.ts';

describe('withoutCredentials', () => {
  it('removes user, password and query values, encoded or decoded, and the user information of quoted URLs', () => {
    const url = 'https://me:p%40ss-word@mcp.example.com/mcp?key=abc%2Fdef%2Bghi&bad=x%25zz&token=secret123';
    const text = `fetch failed for ${url}: key abc/def+ghi, ${'abc%2Fdef%2Bghi'}, secret123, p@ss-word, x%25zz, x%zz; also http://other:pw@host/`;
    const cleaned = withoutCredentials(text, url);
    for (const secret of ['p%40ss-word', 'p@ss-word', 'abc%2Fdef%2Bghi', 'abc/def+ghi', 'secret123', 'x%25zz', 'x%zz', 'other:pw']) {
      expect(cleaned, secret).not.toContain(secret);
    }
    expect(cleaned).toContain('mcp.example.com/mcp');
  });
});
