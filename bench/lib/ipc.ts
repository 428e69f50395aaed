/**
 * The orchestrator talks to each process it starts (Parley, the emulator, the peers) over Node's
 * IPC channel: the child says `ready` once, then answers numbered requests. A child exits as soon
 * as its parent goes away, so no server outlives a crashed or interrupted bench.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { withTimeout } from './clock.ts';

export interface ReadyMessage {
  type: 'ready';
  [key: string]: unknown;
}

interface Reply {
  id: number;
  result?: unknown;
  error?: string;
}

type Handler = (payload: Record<string, unknown>) => unknown;

/** In a child: answer requests by type; `stop` runs `onStop` and exits. */
export function serveParent(handlers: Record<string, Handler>, onStop: () => Promise<void>): void {
  if (!process.send) throw new Error('this script is started by bench/run.ts (it needs an IPC channel)');
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    const guard = setTimeout(() => process.exit(code), 10_000);
    guard.unref();
    await onStop().catch((error: unknown) => console.error('stop failed', error));
    process.exit(code);
  };
  process.on('disconnect', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));
  process.on('message', (raw) => {
    const message = raw as { id: number; type: string; payload?: Record<string, unknown> };
    if (message.type === 'stop') {
      process.send!({ id: message.id, result: true } satisfies Reply, () => void stop(0));
      return;
    }
    const handler = handlers[message.type];
    Promise.resolve()
      .then(() => {
        if (!handler) throw new Error(`unknown request ${message.type}`);
        return handler(message.payload ?? {});
      })
      .then(
        (result) => process.send!({ id: message.id, result } satisfies Reply),
        (error: unknown) => process.send!({ id: message.id, error: error instanceof Error ? error.message : String(error) } satisfies Reply),
      );
  });
}

export function announceReady(payload: Record<string, unknown>): void {
  process.send!({ type: 'ready', ...payload } satisfies ReadyMessage);
}

export interface Child {
  readonly name: string;
  readonly pid: number;
  readonly ready: ReadyMessage;
  request<T>(type: string, payload?: Record<string, unknown>, timeoutMs?: number): Promise<T>;
  /** Asks the child to stop, waits for it to exit (kills it after a while). */
  stop(): Promise<void>;
  readonly exited: Promise<number | null>;
  /** Last lines the child wrote to stderr, for error messages. */
  stderrTail(): string;
}

export interface StartOptions {
  env?: Record<string, string>;
  execArgv?: string[];
  readyTimeoutMs?: number;
  args?: string[];
  cwd?: string;
}

export async function startChild(name: string, script: string, options: StartOptions = {}): Promise<Child> {
  const proc: ChildProcess = fork(script, options.args ?? [], {
    env: { ...process.env, ...options.env },
    execArgv: options.execArgv ?? [],
    stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    ...(options.cwd ? { cwd: options.cwd } : {}),
  });
  const tail: string[] = [];
  proc.stderr?.setEncoding('utf8');
  proc.stderr?.on('data', (chunk: string) => {
    tail.push(chunk);
    if (tail.length > 40) tail.splice(0, tail.length - 40);
    if (process.env.BENCH_VERBOSE) process.stderr.write(`[${name}] ${chunk}`);
  });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  let nextId = 1;
  let readyResolve: (message: ReadyMessage) => void = () => undefined;
  const readyPromise = new Promise<ReadyMessage>((resolve) => (readyResolve = resolve));
  proc.on('message', (raw) => {
    const message = raw as ReadyMessage | Reply;
    if ('type' in message && message.type === 'ready') {
      readyResolve(message);
      return;
    }
    const reply = message as Reply;
    const waiter = pending.get(reply.id);
    if (!waiter) return;
    pending.delete(reply.id);
    if (reply.error !== undefined) waiter.reject(new Error(`${name}: ${reply.error}`));
    else waiter.resolve(reply.result);
  });
  void exited.then((code) => {
    for (const waiter of pending.values()) waiter.reject(new Error(`${name} exited (code ${code})`));
    pending.clear();
  });
  const stderrTail = () => tail.join('').split('\n').slice(-15).join('\n');
  let ready: ReadyMessage;
  try {
    ready = await withTimeout(
      Promise.race([
        readyPromise,
        exited.then((code) => {
          throw new Error(`${name} exited with code ${code} before it was ready`);
        }),
      ]),
      options.readyTimeoutMs ?? 60_000,
      `${name} start`,
    );
  } catch (error) {
    proc.kill('SIGKILL');
    throw new Error(`${(error as Error).message}\n${stderrTail()}`, { cause: error });
  }
  return {
    name,
    pid: proc.pid!,
    ready,
    exited,
    stderrTail,
    request<T>(type: string, payload: Record<string, unknown> = {}, timeoutMs = 60_000): Promise<T> {
      const id = nextId++;
      const result = new Promise<unknown>((resolve, reject) => {
        pending.set(id, { resolve, reject });
        proc.send({ id, type, payload });
      });
      return withTimeout(result as Promise<T>, timeoutMs, `${name} ${type}`);
    },
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const id = nextId++;
      try {
        proc.send({ id, type: 'stop' });
      } catch {
        // the channel is already closed
      }
      const done = await Promise.race([exited.then(() => true), new Promise((r) => setTimeout(() => r(false), 15_000))]);
      if (!done) {
        proc.kill('SIGKILL');
        await exited;
      }
    },
  };
}
