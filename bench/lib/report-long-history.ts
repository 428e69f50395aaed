/** Scenario i's section of bench/results/latest.md (report.ts is long enough). */
import type { LongHistoryResult, SizedFigure } from '../scenarios/long-history.ts';

const num = (n: number) => (!Number.isFinite(n) ? '–' : n < 10 ? n.toFixed(2) : n < 100 ? n.toFixed(1) : Math.round(n).toLocaleString('en-US'));

const copied = (i: LongHistoryResult) =>
  i.longExchangesSent * 2 < i.messages.long ? ` (its first ${i.longExchangesSent} exchanges sent, then their rows copied to make the rest)` : '';

export function longHistorySection(i: LongHistoryResult): string {
  const target = i.targetRatio;
  const verdict = (ratio: number) => (ratio < target ? `meets (< ${target}×)` : `misses (< ${target}×)`);
  const row = (what: string, unit: string, f: SizedFigure) => [
    `${what} (${unit})`,
    `${num(f.short.p50)} / ${num(f.short.p99)}`,
    `${num(f.long.p50)} / ${num(f.long.p99)}`,
    `${f.ratio.p50}× / ${f.ratio.p99}×`,
    `p50 ${verdict(f.ratio.p50)}, p99 ${verdict(f.ratio.p99)}`,
  ];
  const head = ['figure', `${i.messages.short} messages p50 / p99`, `${i.messages.long.toLocaleString('en-US')} messages p50 / p99`, 'long / short p50 / p99', `target: under ${target}×`];
  const rows = [
    row('SendMessage → emulator has the model request', 'ms', i.beforeModelMs),
    row('  of which the SDK and the emulator: the same requests straight through the SDK, no Parley', 'ms', i.directBeforeModelMs),
    row('first token added by Parley (before + after the model)', 'ms', i.addedMs),
    row('buildHistory, in process', 'µs', i.buildHistoryUs),
    row('TokenCalibration.estimate of that request, in process', 'µs', i.estimateUs),
    row('validateRequest of that request, in process', 'µs', i.validateRequestUs),
    row('stores.snapshots.messages, PostgreSQL', 'ms', i.snapshotReadMs),
  ];
  const lines = [
    `| ${head.join(' | ')} |`,
    `| ${head.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ];
  return [
    ...lines,
    '',
    `- Grown through the API in ${i.growSeconds} s (replies of 20 tokens at full speed): one conversation of ${i.messages.long.toLocaleString('en-US')} messages${copied(i)} and ${i.probes} of ${i.messages.short}. The model request they build carries ${i.requestChars.short.toLocaleString('en-US')} and ${i.requestChars.long.toLocaleString('en-US')} characters of messages.`,
    `- ${i.probes} probes per size, alternating between the sizes (which goes first alternates too), flush 1 ms; each probe is an 8-token reply at 80 tokens/s. Each short probe goes to its own ${i.messages.short}-message conversation; the long conversation grows by one exchange per probe, to ${i.longMessagesAtEnd.toLocaleString('en-US')} messages by the last.`,
    `- In process: the stored messages read once through the real store, then ${i.iterations.inProcess.toLocaleString('en-US')} alternating iterations per size (snapshot reads: ${i.iterations.snapshotRead}), after a warm-up. "SendMessage → emulator has the request" also holds the SDK's serialisation of the request and the emulator's parse of its body.`,
  ].join('\n');
}
