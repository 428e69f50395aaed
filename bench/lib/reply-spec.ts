import { stampEpoch } from './clock.ts';

/**
 * What the benchmark asks the emulator to answer, carried in the user message's text so that
 * every client (Parley, the AI SDK, LangGraph) sends it the same way and the emulator needs no
 * side channel. The emulator's process (procs/emulator.ts) parses it.
 */
export interface ReplySpec {
  /** Output tokens in the reply. */
  tokens: number;
  /** Pace of the emulator; 0 = as fast as it can write. */
  tokensPerSecond: number;
  /**
   * Every token is ` ~` and the emulator replaces it, as it writes the event to the socket, by
   * ` ~<emit time>` (ms since the stamp epoch, e.g. ` ~52345.1`): the receiver parses the text
   * to get each token's emit time.
   * Otherwise every token is a space and four pseudo-random letters (5 characters, one token
   * each): text that compresses about as poorly as prose, so TOAST and WAL sizes stay honest.
   */
  stamped: boolean;
  /** The first token becomes ` A<time the emulator received the request>~<emit time>`. */
  arrival?: boolean;
}

const PATTERN = /BENCH tokens=(\d+) tps=(\d+) stamped=([01]) arrival=([01])/;

export function specText(spec: ReplySpec, nonce = ''): string {
  const base = `BENCH tokens=${spec.tokens} tps=${spec.tokensPerSecond} stamped=${spec.stamped ? 1 : 0} arrival=${spec.arrival ? 1 : 0}`;
  return nonce ? `${base} ${nonce}` : base;
}

export function parseSpec(text: string): ReplySpec | null {
  const match = PATTERN.exec(text);
  if (!match) return null;
  return {
    tokens: Number(match[1]),
    tokensPerSecond: Number(match[2]),
    stamped: match[3] === '1',
    arrival: match[4] === '1',
  };
}

/** The reply text the emulator plans (before stamping). */
export function replyText(spec: ReplySpec): string {
  if (!spec.stamped) return words(spec.tokens);
  const tokens = spec.arrival ? Math.max(0, spec.tokens - 1) : spec.tokens;
  return (spec.arrival ? ' A' : '') + ' ~'.repeat(tokens);
}

/** Characters per unstamped token. */
export const WORD_CHARS = 5;

/** `count` tokens of ` abcd`, the same for the same count (mulberry32 seeded by it). */
export function words(count: number): string {
  let state = (count * 2654435761) >>> 0;
  const random = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const parts: string[] = new Array(count);
  for (let i = 0; i < count; i++) {
    let word = ' ';
    for (let j = 0; j < WORD_CHARS - 1; j++) word += String.fromCharCode(97 + Math.floor(random() * 26));
    parts[i] = word;
  }
  return parts.join('');
}

const STAMP = /~(\d+(?:\.\d+)?)/g;
const ARRIVAL = /A(\d+(?:\.\d+)?)/;

/** What the emulator writes for a moment: ms since the stamp epoch, one decimal. */
export function formatStamp(at: number, epoch = stampEpoch()): string {
  return (at - epoch).toFixed(1);
}

/** Emit times (epoch ms, as `now()` gives them) of the stamped tokens in received text. */
export function stampsIn(text: string, epoch = stampEpoch()): number[] {
  const stamps: number[] = [];
  for (const match of text.matchAll(STAMP)) stamps.push(epoch + Number(match[1]));
  return stamps;
}

/** When the emulator received the request (epoch ms), if the text carries it. */
export function arrivalIn(text: string, epoch = stampEpoch()): number | null {
  const match = ARRIVAL.exec(text);
  return match ? epoch + Number(match[1]) : null;
}
