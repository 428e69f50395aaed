/** Reads a V8 .cpuprofile and names where the time went: top frames and time per package. */
import { readFile } from 'node:fs/promises';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
}

export interface Frame {
  frame: string;
  category: string;
  selfMs: number;
  selfPct: number;
}

export interface ProfileSummary {
  file: string;
  durationMs: number;
  /** Share of samples not idle: roughly the CPU the process used over the window. */
  busyPct: number;
  topSelf: Frame[];
  byCategory: Array<{ category: string; selfMs: number; selfPct: number }>;
  /** Functions of Parley's own code (src/, gen/) by inclusive time. */
  topInclusiveParley: Array<{ frame: string; totalMs: number; totalPct: number }>;
}

function shortUrl(url: string): string {
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) return url.slice(nm + 'node_modules/'.length);
  const main = /\/(src|gen|bench|test)\/.*/.exec(url);
  if (main) return main[0].slice(1);
  return url.replace(/^file:\/\//, '');
}

export function categoryOf(frame: CallFrame): string {
  const url = frame.url;
  if (!url) {
    if (frame.functionName.startsWith('(')) return frame.functionName;
    return 'native / V8 builtins';
  }
  if (url.startsWith('node:')) {
    const mod = /^node:(?:internal\/)?([\w]+)/.exec(url)?.[1] ?? 'internal';
    return `node:${mod}`;
  }
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  const main = /\/(src|gen)\/([^/]+)/.exec(url);
  if (main) return `parley ${main[1]}/${main[2]}`;
  return 'other';
}

const round = (n: number) => Math.round(n * 10) / 10;

export async function summarizeProfile(file: string, top = 15): Promise<ProfileSummary> {
  const profile = JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
  const durationMs = (profile.endTime - profile.startTime) / 1000;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const totalSamples = profile.nodes.reduce((sum, n) => sum + (n.hitCount ?? 0), 0) || 1;
  const msPerSample = durationMs / totalSamples;
  const idle = profile.nodes.filter((n) => n.callFrame.functionName === '(idle)').reduce((s, n) => s + (n.hitCount ?? 0), 0);
  const busySamples = totalSamples - idle;

  const parents = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parents.set(child, node.id);
  const frameName = (cf: CallFrame) => `${cf.functionName || '(anonymous)'} ${shortUrl(cf.url)}${cf.url ? `:${cf.lineNumber + 1}` : ''}`.trim();
  /** The nearest caller written in JavaScript: a builtin's time belongs to whoever called it. */
  const jsCaller = (id: number): ProfileNode | null => {
    for (let p = parents.get(id); p !== undefined; p = parents.get(p)) {
      const node = byId.get(p)!;
      if (node.callFrame.url) return node;
    }
    return null;
  };

  const self = new Map<string, { category: string; samples: number }>();
  const categories = new Map<string, number>();
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0;
    if (!hits || node.callFrame.functionName === '(idle)') continue;
    const cf = node.callFrame;
    const caller = cf.url || cf.functionName.startsWith('(') ? null : jsCaller(node.id);
    const key = caller ? `${frameName(cf)} ← ${frameName(caller.callFrame)}` : frameName(cf);
    // Builtins (string and buffer work, JSON, regexps) are charged to the package that called them.
    const category = caller ? categoryOf(caller.callFrame) : categoryOf(cf);
    const entry = self.get(key) ?? { category, samples: 0 };
    entry.samples += hits;
    self.set(key, entry);
    categories.set(category, (categories.get(category) ?? 0) + hits);
  }

  // Inclusive time of Parley's own functions, each counted once per sample path.
  const inclusive = new Map<string, number>();
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0;
    if (!hits || node.callFrame.functionName === '(idle)') continue;
    const seen = new Set<string>();
    for (let id: number | undefined = node.id; id !== undefined; id = parents.get(id)) {
      const cf = byId.get(id)!.callFrame;
      if (!/\/(src|gen)\//.test(cf.url) || cf.url.includes('node_modules')) continue;
      const key = frameName(cf);
      if (seen.has(key)) continue;
      seen.add(key);
      inclusive.set(key, (inclusive.get(key) ?? 0) + hits);
    }
  }

  const pct = (samples: number) => round((samples / (busySamples || 1)) * 100);
  return {
    file,
    durationMs: round(durationMs),
    busyPct: round((busySamples / totalSamples) * 100),
    topSelf: [...self.entries()]
      .sort((a, b) => b[1].samples - a[1].samples)
      .slice(0, top)
      .map(([frame, e]) => ({ frame, category: e.category, selfMs: round(e.samples * msPerSample), selfPct: pct(e.samples) })),
    byCategory: [...categories.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([category, samples]) => ({ category, selfMs: round(samples * msPerSample), selfPct: pct(samples) })),
    topInclusiveParley: [...inclusive.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 12)
      .map(([frame, samples]) => ({ frame, totalMs: round(samples * msPerSample), totalPct: pct(samples) })),
  };
}
