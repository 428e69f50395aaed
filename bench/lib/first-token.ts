/**
 * Time to first token, split so that the model's own time is left out. The reply's first token
 * carries when the emulator received the request (A) and when it wrote the token (E):
 *   added = (A − sent) + (received − E)    what the service in between added
 *   model = E − A                          the emulator's own time to first token (excluded)
 */
import { arrivalIn, stampsIn } from './reply-spec.ts';
import { summarize, type Summary } from './stats.ts';

export interface FirstTokenSample {
  /** SendMessage (or HTTP request) → first text at the client. */
  totalMs: number;
  addedMs: number;
  modelMs: number;
  /** Request sent → emulator received it. */
  beforeModelMs: number;
  /** Emulator wrote the first token → client received it. */
  afterModelMs: number;
}

export function firstTokenSample(sentAt: number, receivedAt: number, firstText: string): FirstTokenSample | null {
  const arrival = arrivalIn(firstText);
  const emitted = stampsIn(firstText)[0];
  if (arrival === null || emitted === undefined) return null;
  const beforeModelMs = arrival - sentAt;
  const afterModelMs = receivedAt - emitted;
  return { totalMs: receivedAt - sentAt, addedMs: beforeModelMs + afterModelMs, modelMs: emitted - arrival, beforeModelMs, afterModelMs };
}

export interface FirstTokenSummary {
  samples: number;
  totalMs: Summary;
  addedMs: Summary;
  modelMs: Summary;
  beforeModelMs: Summary;
  afterModelMs: Summary;
}

export function summarizeFirstTokens(samples: readonly FirstTokenSample[]): FirstTokenSummary {
  const pick = (key: keyof FirstTokenSample) => summarize(samples.map((s) => s[key]));
  return {
    samples: samples.length,
    totalMs: pick('totalMs'),
    addedMs: pick('addedMs'),
    modelMs: pick('modelMs'),
    beforeModelMs: pick('beforeModelMs'),
    afterModelMs: pick('afterModelMs'),
  };
}
