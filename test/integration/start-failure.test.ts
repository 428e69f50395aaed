// A start that fails once the embedded PostgreSQL and an MCP server process are up (the port is
// taken) must stop both before it exits: nothing else would, and they would outlive it with no
// parent, holding the data directory.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { NODE, STDIO_SERVER, isAlive } from '../tools/fixtures/mcp-harness.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

let dataDir = '';
let holder: net.Server | null = null;

afterAll(async () => {
  // Only on failure is anything left; stopped here so that one failed run does not leak into the next.
  if (dataDir) for (const pid of processesNaming(dataDir)) process.kill(pid, 'SIGKILL');
  holder?.close();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe('a start that fails at the port', () => {
  it('exits non-zero with the reason in one line, leaving no PostgreSQL or MCP server process behind', async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'parley-start-fail-'));
    const port = await holdPort();
    const child = spawn(process.execPath, ['src/main.ts'], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        PARLEY_DATA_DIR: dataDir,
        HOST: '127.0.0.1',
        PORT: String(port),
        // Debug, for PostgreSQL's own start-up lines: they carry its pid and port.
        LOG_LEVEL: 'debug',
        // The data directory as an argument marks the server process, to find it once orphaned.
        PARLEY_MCP_SERVERS: JSON.stringify([{ name: 'fx', command: NODE, args: [STDIO_SERVER, dataDir] }]),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('close', (exitCode) => resolve(exitCode)));

    expect(code, output).toBe(1);
    const reasons = output.split('\n').filter((line) => line.startsWith('Parley could not start'));
    expect(reasons).toEqual([`Parley could not start: port ${port} on 127.0.0.1 is in use; set PORT to a free port.`]);
    expect(output).toMatch(/"msg":"MCP server \\"fx\\" connected"/);

    const postgres = postgresOf(output);
    expect(postgres, 'PostgreSQL logged no "listening on" line').not.toBeNull();
    expect(isAlive(postgres!.pid)).toBe(false);
    expect(await refused(postgres!.port)).toBe(true);
    expect(processesNaming(dataDir)).toEqual([]);
    // The claim on the data directory went with it.
    expect(existsSync(path.join(dataDir, 'pg.owner'))).toBe(false);
  }, 60_000);
});

async function holdPort(): Promise<number> {
  const server = net.createServer();
  holder = server;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as net.AddressInfo).port;
}

/** The postmaster's pid and port, from its "listening on" line (default log_line_prefix: "%m [%p] "). */
function postgresOf(output: string): { pid: number; port: number } | null {
  for (const line of output.split('\n')) {
    if (!line.startsWith('{')) continue;
    const { msg } = JSON.parse(line) as { msg?: string };
    const match = /\[(\d+)\] LOG: {2}listening on IPv4 address "127\.0\.0\.1", port (\d+)/.exec(msg ?? '');
    if (match) return { pid: Number(match[1]), port: Number(match[2]) };
  }
  return null;
}

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

/** Live processes whose command line contains `text`; none where /proc is missing. */
function processesNaming(text: string): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  return entries.filter((entry) => /^\d+$/.test(entry)).map(Number).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(text) && isAlive(pid);
    } catch {
      return false;
    }
  });
}
