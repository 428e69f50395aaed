/** Turns the results into bench/results/latest.md (and the table in docs/performance.md). */
import type { Machine } from './machine.ts';
import type { ProfileSummary } from './profile.ts';
import type { Spread, Summary } from './stats.ts';
import type { ThroughputResult } from '../scenarios/throughput.ts';
import type { ConcurrencyResult } from '../scenarios/concurrency.ts';
import type { FanoutResult } from '../scenarios/fanout.ts';
import type { FirstTokenResult } from '../scenarios/first-token.ts';
import type { StorageResult } from '../scenarios/storage.ts';
import type { PeersResult } from '../scenarios/peers.ts';
import type { AuthResult } from '../scenarios/auth.ts';
import type { ObservabilityResult } from '../scenarios/observability.ts';
import type { LongHistoryResult } from '../scenarios/long-history.ts';
import { longHistorySection } from './report-long-history.ts';

export interface BenchResults {
  startedAt: string;
  mode: 'quick' | 'full';
  machine: Machine;
  durationSeconds: number;
  scenarios: {
    throughput?: ThroughputResult;
    concurrency?: ConcurrencyResult;
    fanout?: FanoutResult;
    firstToken?: FirstTokenResult;
    storage?: StorageResult;
    peers?: PeersResult;
    auth?: AuthResult;
    observability?: ObservabilityResult;
    longHistory?: LongHistoryResult;
  };
  errors: Record<string, string>;
}

const int = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? '–' : Math.round(n).toLocaleString('en-US'));
const ms = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? '–' : n < 10 ? n.toFixed(1) : Math.round(n).toLocaleString('en-US'));
const pct = (n: number) => `${n.toFixed(n < 10 ? 1 : 0)}%`;
const kib = (n: number) => `${(n / 1024).toFixed(n < 10 * 1024 ? 1 : 0)} KiB`;
const range = (s: Spread, f: (n: number) => string = int) => (s.runs.length > 1 ? `${f(s.median)} (${f(s.min)}–${f(s.max)})` : f(s.median));
const table = (head: string[], rows: string[][]) =>
  [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');

function machineSection(r: BenchResults): string {
  const m = r.machine;
  return [
    `Machine: ${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB RAM, Node ${m.node}, ${m.os}; load average (1/5/15 min) at start ${m.loadAverageAtStart.join(' / ')}${m.loadAverageAtEnd ? `, at end ${m.loadAverageAtEnd.join(' / ')}` : ''} (other work on the machine shows here).`,
    `Run: ${r.startedAt}, mode **${r.mode}**, ${Math.round(r.durationSeconds)} s. Everything on one machine over loopback: Parley, PostgreSQL, the emulator and the load generator share ${m.cores} cores.`,
  ].join('\n');
}

function summaryTable(r: BenchResults): string {
  const rows: string[][] = [];
  const a = r.scenarios.throughput;
  const d = r.scenarios.firstToken;
  const f = r.scenarios.peers;
  const b = r.scenarios.concurrency;
  const c = r.scenarios.fanout;
  if (a) {
    const transport = a.transport.deltasPerSecond.median;
    rows.push(['a', 'Transport ceiling: bare connect-node (h2c) → grpc-js, one stream', `${range(a.transport.deltasPerSecond)} msg/s`, '1.00']);
    rows.push(['a', 'Emulator → @anthropic-ai/sdk, no Parley (Parley\'s input limit)', `${range(a.emulatorToSdk.tokensPerSecond)} tokens/s`, (a.emulatorToSdk.tokensPerSecond.median / transport).toFixed(2)]);
    for (const p of a.parley) {
      const pace = p.emulatorTokensPerSecond ? `emulator paced ${int(p.emulatorTokensPerSecond)} tokens/s` : 'emulator at full speed';
      const delay = p.delayMs ? `; delay p50 ${ms(p.delayMs.p50.median)} ms, p99 ${ms(p.delayMs.p99.median)} ms` : '';
      rows.push([
        'a',
        `Parley → grpc-js subscriber, ${int(p.tokens)} tokens, ${pace}, flush ${p.flushMs} ms`,
        `${range(p.tokensPerSecond)} tokens/s in ${range(p.deltasPerSecond)} deltas/s (${int(p.deltasPerReply.median)} deltas/reply)${delay}`,
        `${p.ratioToTransport.toFixed(2)} tokens; ${(p.deltasPerSecond.median / transport).toFixed(4)} deltas`,
      ]);
    }
  }
  if (b) {
    const largest = b.largestPassing === null ? 'none of those measured' : `K = ${b.largestPassing}`;
    const worst = b.steps.at(-1);
    rows.push([
      'b',
      `Conversations at ${b.tokensPerSecondEach} tokens/s each (flush ${b.flushMs} ms): largest K with p99 < ${b.thresholdMs} ms`,
      `${largest}${b.smallestFailing !== null ? `; K = ${b.smallestFailing} fails` : ''}${worst ? ` (K=${worst.conversations}: p50 ${ms(worst.p50Ms)} ms, p99 ${ms(worst.p99Ms)} ms)` : ''}`,
      '',
    ]);
  }
  if (c) {
    for (const s of c.steps) {
      rows.push(['c', `Fan-out: 1 conversation, ${int(s.subscribers)} subscribers`, `${int(s.deliveredDeltasPerSecond)} deltas/s delivered; p50 ${ms(s.p50Ms)} ms, p99 ${ms(s.p99Ms)} ms; ${kib(s.heapBytesPerSubscriber)} heap per subscriber`, '']);
    }
  }
  if (d) {
    for (const k of d.cases) {
      rows.push(['d', `First token added by Parley, flush ${k.flushMs} ms, ${k.load === 'idle' ? 'idle' : `under ${d.backgroundConversations} streaming conversations`}`, `p50 ${ms(k.firstToken.addedMs.p50)} ms, p99 ${ms(k.firstToken.addedMs.p99)} ms`, '']);
    }
  }
  if (f) {
    for (const p of f.peers) {
      if (!p.ran) {
        rows.push(['f', `${p.name}`, `did not run: ${p.reason ?? 'unknown'}`, '']);
        continue;
      }
      rows.push(['f', `${p.name}: first token added (idle)`, `p50 ${ms(p.firstToken?.addedMs.p50)} ms, p99 ${ms(p.firstToken?.addedMs.p99)} ms`, '']);
      if (p.fullSpeed) {
        rows.push([
          'f',
          `${p.name}: ${int(p.fullSpeed.tokens)} tokens, emulator at full speed`,
          `${range(p.fullSpeed.tokensPerSecond)} tokens/s in ${range(p.fullSpeed.deltasPerSecond)} deltas/s`,
          a ? `${(p.fullSpeed.tokensPerSecond.median / a.transport.deltasPerSecond.median).toFixed(2)} tokens` : '',
        ]);
      }
      if (p.paced) rows.push(['f', `${p.name}: emulator paced ${int(p.paced.emulatorTokensPerSecond)} tokens/s`, `delay p50 ${ms(p.paced.delayMs.p50.median)} ms, p99 ${ms(p.paced.delayMs.p99.median)} ms; ${range(p.paced.deltasPerSecond)} deltas/s`, '']);
    }
  }
  const i = r.scenarios.longHistory;
  if (i) {
    const x = i.beforeModelMs;
    rows.push(['i', `SendMessage → model request, ${int(i.messages.long)} messages vs ${int(i.messages.short)} (target < ${i.targetRatio}×)`, `p50 ${ms(x.long.p50)} vs ${ms(x.short.p50)} ms (${x.ratio.p50}×), p99 ${ms(x.long.p99)} vs ${ms(x.short.p99)} ms (${x.ratio.p99}×)`, '']);
  }
  const e = r.scenarios.storage;
  if (e) {
    for (const row of e.rows.filter((x) => x.tokensPerSecond !== 'full speed')) {
      rows.push(['e', `Database per prompt, ${int(row.replyTokens)}-token reply at ${row.tokensPerSecond} tokens/s`, `${row.statementsTotal} statements, ${kib(row.walBytes)} WAL (${row.walPerReplyByte} B per reply byte), ${row.eventRows} events`, '']);
    }
  }
  return [
    table(['', 'what', 'figure (median of runs, min–max)', 'ratio to transport'], rows),
    '',
    'Ratio to transport: Parley\'s tokens/s (or deltas/s) over the bare server\'s messages/s, one token per message there. Parley coalesces tokens into fewer, larger deltas, so its tokens/s can exceed the per-message ceiling while its deltas/s stay far below it.',
  ].join('\n');
}

function throughputSection(a: ThroughputResult): string {
  const rows = a.parley.map((p) => [
    `${p.flushMs} ms`,
    p.emulatorTokensPerSecond ? int(p.emulatorTokensPerSecond) : 'full speed',
    int(p.tokens),
    range(p.tokensPerSecond),
    range(p.deltasPerSecond),
    int(p.deltasPerReply.median),
    p.delayMs ? `${ms(p.delayMs.p50.median)} / ${ms(p.delayMs.p99.median)}` : '–',
    int(p.parleyCpuMsPer1kTokens.median),
    int(p.postgresCpuMsPer1kTokens.median),
    p.incomplete ? String(p.incomplete) : '0',
  ]);
  return [
    `Transport: ${int(a.transport.messages)} messages of \`"${a.transport.deltaText}"\` → ${range(a.transport.deltasPerSecond)} msg/s. Emulator → SDK: ${range(a.emulatorToSdk.tokensPerSecond)} tokens/s.`,
    '',
    table(['flush', 'emulator tokens/s', 'tokens', 'tokens/s', 'deltas/s', 'deltas/reply', 'delay p50 / p99 ms', 'Parley CPU ms / 1k tokens', 'PostgreSQL CPU ms / 1k tokens', 'incomplete'], rows),
  ].join('\n');
}

function profileSection(name: string, p: ProfileSummary | { error: string } | undefined): string {
  if (!p) return '';
  if ('error' in p) return `Profile ${name}: not available (${p.error}).`;
  return [
    `**${name}** — ${ms(p.durationMs)} ms profiled, main thread busy ${pct(p.busyPct)} of it. Top frames by self time (builtins charged to their JavaScript caller):`,
    '',
    table(['self %', 'frame', 'package'], p.topSelf.slice(0, 12).map((f) => [pct(f.selfPct), `\`${f.frame}\``, f.category])),
    '',
    `By package: ${p.byCategory.slice(0, 10).map((c) => `${c.category} ${pct(c.selfPct)}`).join(', ')}.`,
    '',
    `Parley's own functions by inclusive time: ${p.topInclusiveParley.slice(0, 6).map((f) => `\`${f.frame}\` ${pct(f.totalPct)}`).join(', ')}.`,
  ].join('\n');
}

function concurrencySection(b: ConcurrencyResult): string {
  const rows = b.steps.flatMap((s) =>
    s.runs.map((r, i) => [
      String(s.conversations),
      String(i + 1),
      ms(r.delayMs.p50),
      ms(r.delayMs.p99),
      ms(r.delayMs.max),
      pct(r.deliveredFraction * 100),
      `${r.completed}/${r.conversations}`,
      `${r.cpuPct.parley}%`,
      `${r.cpuPct.postgres}%`,
      `${r.cpuPct.emulator}% / ${r.cpuPct.loadGenerator}%`,
      `${r.parleyRss.peakMiB} MiB`,
      ms(r.parleyEventLoopDelayMs.p99),
      s.pass ? 'yes' : 'no',
    ]),
  );
  return [
    `${b.tokensPerReply} tokens per reply at ${b.tokensPerSecondEach} tokens/s; flush ${b.flushMs} ms. Largest K with p99 < ${b.thresholdMs} ms: **${b.largestPassing ?? 'none'}**${b.smallestFailing !== null ? ` (K = ${b.smallestFailing} fails)` : ''}. Requested: ${b.requested.join(', ')}.`,
    '',
    table(['K', 'run', 'p50 ms', 'p99 ms', 'max ms', 'delivered', 'completed', 'Parley CPU', 'PostgreSQL CPU', 'emulator / load CPU', 'Parley RSS peak', 'event-loop delay p99 ms', 'p99 < target'], rows),
    ...b.notes.map((n) => `\n- ${n}`),
  ].join('\n');
}

function fanoutSection(c: FanoutResult): string {
  const rows = c.steps.flatMap((s) =>
    s.runs.map((r, i) => [
      int(s.subscribers),
      String(i + 1),
      int(r.deliveredDeltasPerSecond),
      int(r.deliveredTokensPerSecond),
      ms(r.delayMs.p50),
      ms(r.delayMs.p99),
      pct(r.deliveredFraction * 100),
      kib(r.heapBytesPerSubscriber),
      kib(r.rssBytesPerSubscriber),
      `${r.subscribeSeconds} s`,
      `${r.parleyCpuPct}%`,
      ms(r.parleyEventLoopDelayMs.p99),
    ]),
  );
  return [
    `One reply of ${c.tokensPerReply} tokens at ${c.tokensPerSecond} tokens/s, flush ${c.flushMs} ms; subscribers spread 100 per HTTP/2 connection. Requested S: ${c.requested.join(', ')}.`,
    '',
    table(['S', 'run', 'deltas/s delivered', 'tokens/s delivered', 'p50 ms', 'p99 ms', 'delivered', 'heap / subscriber', 'RSS / subscriber', 'time to open all', 'Parley CPU', 'event-loop delay p99 ms'], rows),
    ...c.notes.map((n) => `\n- ${n}`),
  ].join('\n');
}

function firstTokenSection(d: FirstTokenResult): string {
  const s = (x: Summary) => `${ms(x.p50)} / ${ms(x.p99)}`;
  const rows = d.cases.map((k) => [
    `${k.flushMs} ms`,
    k.load === 'idle' ? 'idle' : `${d.backgroundConversations} conversations streaming${k.background ? ` (their p99 ${ms(k.background.delayMs.p99)} ms)` : ''}`,
    s(k.firstToken.totalMs),
    s(k.firstToken.addedMs),
    s(k.firstToken.beforeModelMs),
    s(k.firstToken.afterModelMs),
    s(k.firstToken.modelMs),
  ]);
  return [
    `${d.probes} probes per case; each reply is 8 tokens paced at 80 tokens/s. Emulator straight through the SDK, no Parley: p50 ${ms(d.emulatorDirectMs.p50)} ms, p99 ${ms(d.emulatorDirectMs.p99)} ms to first token.`,
    '',
    table(['flush', 'load', 'SendMessage → first delta p50 / p99 ms', 'added by Parley p50 / p99', 'SendMessage → emulator has request', 'emulator wrote token → subscriber has it', 'emulator own (excluded)'], rows),
  ].join('\n');
}

function storageSection(e: StorageResult): string {
  const rows = e.rows.map((r) => [
    int(r.replyTokens),
    String(r.tokensPerSecond),
    String(r.statementsTotal),
    Object.entries(r.statements)
      .sort((x, y) => y[1] - x[1])
      .map(([k, v]) => `${k} ${v}`)
      .join(', '),
    kib(r.walBytes),
    String(r.walPerReplyByte),
    `${r.eventRows} (${r.blockDeltaEvents} deltas)`,
    kib(r.eventPayloadBytes),
    Object.entries(r.tableGrowthBytes)
      .map(([k, v]) => `${k} ${kib(v)}`)
      .join(', ') || '–',
  ]);
  return [
    table(['reply tokens', 'tokens/s', 'statements', 'by kind', 'WAL', 'WAL bytes per reply byte', 'event rows', 'event payloads', 'table growth'], rows),
    ...e.notes.map((n) => `\n- ${n}`),
  ].join('\n');
}

function peersSection(f: PeersResult): string {
  return f.peers
    .map((p) => {
      const head = `**${p.name}** (${p.version || 'version unknown'}) — ${p.transport ?? ''}`;
      if (!p.ran) return `${head}\n\nDid not run: ${p.reason}\n${(p.notes ?? []).map((n) => `\n- ${n}`).join('')}`;
      const lines = [head, ''];
      if (p.firstToken) lines.push(`- First token added: p50 ${ms(p.firstToken.addedMs.p50)} ms, p99 ${ms(p.firstToken.addedMs.p99)} ms (request → first text p50 ${ms(p.firstToken.totalMs.p50)} ms).`);
      if (p.fullSpeed) {
        lines.push(
          `- Full speed, ${int(p.fullSpeed.tokens)} tokens: ${range(p.fullSpeed.tokensPerSecond)} tokens/s, ${range(p.fullSpeed.deltasPerSecond)} deltas/s (${int(p.fullSpeed.deltasPerReply.median)} deltas/reply); server CPU ${int(p.fullSpeed.serverCpuMsPer1kTokens.median)} ms per 1k tokens.`,
        );
      }
      if (p.paced) lines.push(`- Paced ${int(p.paced.emulatorTokensPerSecond)} tokens/s, ${int(p.paced.tokens)} tokens: delay p50 ${ms(p.paced.delayMs.p50.median)} ms, p99 ${ms(p.paced.delayMs.p99.median)} ms; ${range(p.paced.deltasPerSecond)} deltas/s.`);
      for (const n of p.notes ?? []) lines.push(`- ${n}`);
      return lines.join('\n');
    })
    .join('\n\n');
}

function authSection(g: AuthResult): string {
  const us = (n: number) => n.toFixed(1);
  const f = (n: number) => n.toFixed(2);
  return table(
    ['', 'open', 'cached API key', 'JWT (ES256)'],
    [
      ['authenticate(), in process: p50 / p99 µs', `${us(g.inProcessUs.open.p50)} / ${us(g.inProcessUs.open.p99)}`, `${us(g.inProcessUs.apiKey.p50)} / ${us(g.inProcessUs.apiKey.p99)}`, `${us(g.inProcessUs.jwt.p50)} / ${us(g.inProcessUs.jwt.p99)}`],
      ['ListConversations round trip: p50 / p99 ms', `${f(g.rpcMs.open.p50)} / ${f(g.rpcMs.open.p99)}`, `${f(g.rpcMs.apiKey.p50)} / ${f(g.rpcMs.apiKey.p99)}`, `${f(g.rpcMs.jwt.p50)} / ${f(g.rpcMs.jwt.p99)}`],
    ],
  ) +
    '\n\n' +
    table(
      ['SendMessage → first token added (flush 1 ms), one instance', 'open', 'API key', 'API key, tenant with budgets'],
      [['p50 / p99 ms', ...[g.firstToken.open, g.firstToken.apiKey, g.firstToken.apiKeyWithBudgets].map((t) => `${t.addedMs.p50.toFixed(1)} / ${t.addedMs.p99.toFixed(1)}`)]],
    );
}

function observabilitySection(h: ObservabilityResult): string {
  const side = (s: ObservabilityResult['on']) => [
    `${s.firstToken.addedMs.p50.toFixed(1)} / ${s.firstToken.addedMs.p99.toFixed(1)}`,
    Math.round(s.deltasPerSecond.median).toLocaleString('en-US'),
    `${s.delayMs.p50.median.toFixed(1)} / ${s.delayMs.p99.median.toFixed(1)}`,
    s.parleyCpuMsPer1kTokens.median.toFixed(1),
    Math.round(s.tokensPerSecond.median).toLocaleString('en-US'),
  ];
  const d = h.differencePercent;
  const signed = (n: number) => `${n > 0 ? '+' : ''}${n.toFixed(1)} %`;
  return (
    table(
      [
        'two instances side by side, flush 1 ms',
        'first token added p50 / p99 ms',
        `paced ${h.pacedTokensPerSecond.toLocaleString('en-US')} tokens/s: deltas/s`,
        'paced: delay p50 / p99 ms',
        'paced: Parley CPU ms per 1k tokens',
        `full speed (${h.tokens.toLocaleString('en-US')} tokens): tokens/s`,
      ],
      [
        ['metrics off, no tracing', ...side(h.off)],
        ['metrics scraped every 1 s, every span exported', ...side(h.on)],
        ['difference (on / off − 1)', `${signed(d.firstTokenP50)} / ${signed(d.firstTokenP99)}`, signed(d.deltasPerSecond), `p99 ${signed(d.delayP99)}`, signed(d.cpuPer1kTokens), signed(d.tokensPerSecond)],
      ],
    ) + `\n\n${h.rounds} alternating rounds; ${h.exported.exports} OTLP exports (${h.exported.bytes.toLocaleString('en-US')} bytes) reached the collector stub, /metrics was read ${h.exported.scrapes} times.`
  );
}

export function renderMarkdown(r: BenchResults): string {
  const s = r.scenarios;
  const parts = [`# Parley benchmark results (${r.mode})`, '', machineSection(r), '', '## Summary', '', summaryTable(r)];
  if (s.throughput) {
    parts.push('', '## a. Throughput against the transport limit', '', throughputSection(s.throughput));
    parts.push('', '### CPU profiles of the Parley process (scenario a, flush 1 ms)', '');
    parts.push(profileSection('Emulator paced at 2,000 tokens/s', s.throughput.profiles.pacedFlush1), '', profileSection('Emulator at full speed', s.throughput.profiles.fullSpeedFlush1));
  }
  if (s.concurrency) parts.push('', '## b. Concurrent conversations at 80 tokens/s', '', concurrencySection(s.concurrency));
  if (s.fanout) parts.push('', '## c. Fan-out to many subscribers of one conversation', '', fanoutSection(s.fanout));
  if (s.firstToken) parts.push('', '## d. Time to first token added by Parley', '', firstTokenSection(s.firstToken));
  if (s.storage) parts.push('', '## e. Database work per prompt', '', storageSection(s.storage));
  if (s.peers) parts.push('', '## f. Peers on the same emulator', '', peersSection(s.peers));
  if (s.auth) parts.push('', '## g. The cost of authentication', '', authSection(s.auth));
  if (s.observability) parts.push('', '## h. The cost of metrics and traces', '', observabilitySection(s.observability));
  if (s.longHistory) {
    parts.push('', '## i. Long conversations', '', longHistorySection(s.longHistory));
    parts.push('', profileSection(`Parley answering ${s.longHistory.profileProbes} more probes into the long conversation alone (not counted above)`, s.longHistory.profile));
  }
  const errors = Object.entries(r.errors);
  if (errors.length) parts.push('', '## Scenarios that failed', '', ...errors.map(([k, v]) => `- **${k}**: \`${v.split('\n')[0]}\``));
  return `${parts.join('\n')}\n`;
}
