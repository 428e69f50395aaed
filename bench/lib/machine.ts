import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';

export interface Machine {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  node: string;
  os: string;
  loadAverageAtStart: number[];
  loadAverageAtEnd?: number[];
}

export function loadAverage(): number[] {
  return os.loadavg().map((l) => Math.round(l * 100) / 100);
}

export function machine(): Machine {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    loadAverageAtStart: loadAverage(),
  };
}

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** CPU time (ms, user + system) a process has used, read from /proc; null when it is gone. */
export function processCpuMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return ((utime + stime) * 1000) / TICKS_PER_SECOND;
  } catch {
    return null;
  }
}

export function processRssBytes(pid: number): number | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /VmRSS:\s+(\d+) kB/.exec(status);
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}

function parentOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return null;
  }
}

/** A process and all its descendants (PostgreSQL's postmaster and its backends). */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    const parent = parentOf(pid);
    if (parent === null) continue;
    const list = children.get(parent) ?? [];
    list.push(pid);
    children.set(parent, list);
  }
  const tree: number[] = [];
  const stack = [root];
  while (stack.length) {
    const pid = stack.pop()!;
    tree.push(pid);
    stack.push(...(children.get(pid) ?? []));
  }
  return tree;
}

/**
 * CPU used by a process tree between `start()` and `stop()`. Backends that come and go in
 * between are counted from when they are first seen (sampled every 200 ms).
 */
export class TreeCpu {
  readonly #root: number;
  readonly #first = new Map<number, number>();
  readonly #last = new Map<number, number>();
  #timer: NodeJS.Timeout | null = null;

  constructor(root: number) {
    this.#root = root;
  }

  start(): void {
    this.#sample();
    this.#timer = setInterval(() => this.#sample(), 200);
    this.#timer.unref();
  }

  /** CPU ms used since start. */
  stop(): number {
    this.#sample();
    if (this.#timer) clearInterval(this.#timer);
    let total = 0;
    for (const [pid, last] of this.#last) total += last - (this.#first.get(pid) ?? last);
    return total;
  }

  #sample(): void {
    for (const pid of processTree(this.#root)) {
      const cpu = processCpuMs(pid);
      if (cpu === null) continue;
      if (!this.#first.has(pid)) this.#first.set(pid, this.#timer === null ? cpu : 0);
      this.#last.set(pid, cpu);
    }
  }
}

/** Samples a process's RSS every `everyMs` until stopped; returns the peak and the mean. */
export class RssSampler {
  readonly #pid: number;
  #peak = 0;
  #sum = 0;
  #count = 0;
  #timer: NodeJS.Timeout | null = null;

  constructor(pid: number) {
    this.#pid = pid;
  }

  start(everyMs = 250): void {
    this.#sample();
    this.#timer = setInterval(() => this.#sample(), everyMs);
    this.#timer.unref();
  }

  stop(): { peakBytes: number; meanBytes: number } {
    this.#sample();
    if (this.#timer) clearInterval(this.#timer);
    return { peakBytes: this.#peak, meanBytes: this.#count ? this.#sum / this.#count : 0 };
  }

  #sample(): void {
    const rss = processRssBytes(this.#pid);
    if (rss === null) return;
    this.#peak = Math.max(this.#peak, rss);
    this.#sum += rss;
    this.#count += 1;
  }
}
