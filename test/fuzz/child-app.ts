// The real entry point (src/main.ts) in a child process, for inputs that take a whole process
// down or wedge its event loop: in-process they would take the test runner with them.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTestDatabase } from '../support/database.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface ChildApp {
  port: number;
  /** Whether the process is still running. */
  alive(): boolean;
  exitCode(): number | null;
  /** What the process wrote to stderr (its JSON log lines, or a crash). */
  output(): string;
  /** Kills it (SIGKILL: a wedged event loop would never run a SIGTERM handler) and drops its database. */
  stop(): Promise<void>;
}

export async function startChildApp(timeoutMs = 30_000): Promise<ChildApp> {
  const database = await createTestDatabase();
  const child: ChildProcess = spawn(process.execPath, ['src/main.ts'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      DATABASE_URL: database.url,
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      PARLEY_MAX_CONCURRENT_PROMPTS: '0',
      PARLEY_SHUTDOWN_GRACE_MS: '0',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let output = '';
  let exitCode: number | null = null;
  const exited = new Promise<void>((resolve) => child.once('exit', (code, signal) => ((exitCode = code ?? (signal ? -1 : null)), resolve())));
  const stop = async () => {
    if (exitCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    await database.drop();
  };
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the child app did not start in ${timeoutMs} ms:\n${output}`)), timeoutMs);
      child.stderr!.setEncoding('utf8');
      child.stderr!.on('data', (chunk: string) => {
        output += chunk;
        const match = /"url":"http:\/\/127\.0\.0\.1:(\d+)"/.exec(output);
        if (match) {
          clearTimeout(timer);
          resolve(Number(match[1]));
        }
      });
      child.once('exit', () => {
        clearTimeout(timer);
        reject(new Error(`the child app exited before it served:\n${output}`));
      });
    });
    return { port, alive: () => exitCode === null, exitCode: () => exitCode, output: () => output, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** GET /healthz with a deadline: whether the process still serves. */
export async function healthy(port: number, timeoutMs = 2_000): Promise<boolean> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(timeoutMs), headers: { connection: 'close' } });
    return response.status === 200;
  } catch {
    return false;
  }
}
