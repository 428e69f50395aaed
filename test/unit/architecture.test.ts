// The layering rules of docs/architecture.md, checked on the source text.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src');

function sources(dir = SRC): Array<{ file: string; text: string }> {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sources(full);
    return entry.name.endsWith('.ts') ? [{ file: path.relative(SRC, full), text: readFileSync(full, 'utf8') }] : [];
  });
}

function importsOf(text: string): string[] {
  return [...text.matchAll(/from '([^']+)'/g)].map((m) => m[1]!);
}

describe('architecture', () => {
  const files = sources();

  it('builds the Anthropic client and the tool executor only in the composition root', () => {
    const offenders = files
      .filter(({ file }) => file !== 'app.ts')
      .filter(({ text }) => /new Anthropic\(|new ToolExecutor\(/.test(text))
      .map(({ file }) => file);
    expect(offenders).toEqual([]);
  });

  it('keeps the engine free of protobuf and HTTP', () => {
    const offenders = files
      .filter(({ file }) => file.startsWith('engine/'))
      .filter(({ text }) => importsOf(text).some((i) => i.includes('/gen/') || i.includes('/rpc/') || i.includes('/server/') || i.startsWith('@connectrpc') || i.startsWith('@bufbuild')))
      .map(({ file }) => file);
    expect(offenders).toEqual([]);
  });

  it('keeps the store free of the engine and of the RPC layer', () => {
    const offenders = files
      .filter(({ file }) => file.startsWith('store/'))
      .filter(({ text }) => importsOf(text).some((i) => i.includes('/engine/') || i.includes('/rpc/') || i.includes('/gen/')))
      .map(({ file }) => file);
    expect(offenders).toEqual([]);
  });

  it('keeps the RPC layer off the store: it calls the engine', () => {
    const offenders = files
      .filter(({ file }) => file.startsWith('rpc/'))
      .filter(({ text }) => importsOf(text).some((i) => i.includes('/store/')))
      .map(({ file }) => file);
    expect(offenders).toEqual([]);
  });

  it('keeps the domain free of every other layer: plain data and pure functions', () => {
    const offenders = files
      .filter(({ file }) => file.startsWith('domain/'))
      .filter(({ text }) => importsOf(text).some((i) => i.startsWith('..') || (!i.startsWith('./') && !i.startsWith('node:'))))
      .map(({ file }) => file);
    expect(offenders).toEqual([]);
  });

  it('imports generated code only from the RPC layer and the client library', () => {
    const offenders = files
      .filter(({ file }) => !file.startsWith('rpc/') && !file.startsWith('client/'))
      .filter(({ text }) => importsOf(text).some((i) => i.includes('/gen/')))
      .map(({ file }) => file);
    expect(offenders).toEqual([]);
  });
});
