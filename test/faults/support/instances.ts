// Parley instances as child processes (`node src/main.ts`), the way an operator runs them, so a
// test can SIGKILL one mid-stream. Every child started here is tracked and killed when the test
// process exits, whatever happened in the test.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const MAIN = path.join(ROOT, 'src/main.ts');
// The project's Node 24 (devDependency `node`); the test runner's own Node otherwise.
const NODE = existsSync(path.join(ROOT, 'node_modules/.bin/node')) ? path.join(ROOT, 'node_modules/.bin/node') : process.execPath;
const START_TIMEOUT_MS = 30_000;
const STDERR_TAIL_LINES = 60;

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Instance {
  readonly name: string;
  readonly pid: number;
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** Resolves when the process has exited. */
  readonly exited: Promise<Exit>;
  readonly alive: boolean;
  /** The last lines the child wrote on stderr (its JSON log), for failure messages. */
  stderrTail(): string;
  /** Log lines (parsed JSON) whose `msg` matches. */
  logged(msg: string): Array<Record<string, unknown>>;
  /** Sends the signal and waits for the process to exit. */
  stop(signal: NodeJS.Signals): Promise<Exit>;
}

const children = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort if a test fails before its own cleanup: never leave a Parley running.
  process.on('exit', () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
}

let counter = 0;

/**
 * Starts `node src/main.ts` with exactly `env` (plus PATH and HOME), on a free loopback port, and
 * resolves once it logs that it is serving.
 */
export async function startInstance(env: Record<string, string>): Promise<Instance> {
  installExitHook();
  const name = `parley-${++counter}`;
  const child = spawn(NODE, [MAIN], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? '/tmp',
      LOG_LEVEL: 'info',
      ...env,
      PORT: '0',
      HOST: '127.0.0.1',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.add(child);
  const tail: string[] = [];
  const lines: Array<Record<string, unknown>> = [];
  let exit: Exit | null = null;
  const exited = new Promise<Exit>((resolve) => {
    child.once('exit', (code, signal) => {
      exit = { code, signal };
      children.delete(child);
      resolve(exit);
    });
  });

  let buffered = '';
  let onServing: ((url: string) => void) | null = null;
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    buffered += chunk;
    let newline: number;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      tail.push(line);
      if (tail.length > STDERR_TAIL_LINES) tail.shift();
      try {
        const parsed = JSON.parse(line) as Record<string, unknown>;
        lines.push(parsed);
        if (lines.length > 5_000) lines.shift();
        if (parsed.msg === 'Parley is serving gRPC, gRPC-Web and Connect' && typeof parsed.url === 'string') onServing?.(parsed.url);
      } catch {
        // not a log line (a crash trace, say): kept in the tail only
      }
    }
  });

  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${name} did not start within ${START_TIMEOUT_MS} ms:\n${tail.join('\n')}`));
    }, START_TIMEOUT_MS);
    onServing = (served) => {
      clearTimeout(timer);
      resolve(served);
    };
    void exited.then((e) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited during start-up (code ${e.code}, signal ${e.signal}):\n${tail.join('\n')}`));
    });
  });

  return {
    name,
    pid: child.pid!,
    url,
    exited,
    get alive() {
      return exit === null;
    },
    stderrTail: () => tail.join('\n'),
    logged: (msg) => lines.filter((line) => line.msg === msg),
    async stop(signal) {
      if (exit === null) child.kill(signal);
      return exited;
    },
  };
}

/**
 * Resolves once the instance has answered GET /healthz. Its log line "serving" is written just
 * before src/main.ts installs its SIGTERM handler; a signal sent in between finds none and
 * kills the process outright. Having answered a request, it has run past that point.
 */
export async function untilAnswering(instance: Instance, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if ((await fetch(`${instance.url}/healthz`, { signal: AbortSignal.timeout(1_000) })).status === 200) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`${instance.name} did not answer /healthz within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Kills every child still running (SIGKILL) and waits for them: for `afterAll`. */
export async function killAllInstances(): Promise<void> {
  const running = [...children];
  for (const child of running) child.kill('SIGKILL');
  await Promise.all(running.map((child) => new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())))));
}
