import type { CacheTtl, PrefixPoint } from './cache-prefix.ts';

/**
 * The API's prompt cache, for usage accounting. Facts it follows, from the prompt-caching
 * documentation (platform.claude.com/docs/en/build-with-claude/prompt-caching) and reports that
 * quote it:
 * - an entry is the exact prefix (tools, system, messages) up to a `cache_control` breakpoint,
 *   for one model;
 * - at each breakpoint the API looks for an entry at that block and at up to 19 blocks before it,
 *   20 positions counting the breakpoint itself (the lookback window: aaif-goose/goose#8921,
 *   microsoft/vscode#315505, zapvol's prompt-caching page); the longest prefix found is read;
 * - what lies between that hit and the last breakpoint is written, at each breakpoint's TTL;
 *   what follows the last breakpoint is plain input;
 * - a prefix shorter than the model's minimum is not cached, silently (no error);
 * - an entry lives 5 minutes (or 1 hour) from its last use: a read refreshes it.
 * input_tokens + cache_creation_input_tokens + cache_read_input_tokens is the whole input, as
 * @anthropic-ai/sdk's Usage documents.
 */

export const LOOKBACK_BLOCKS = 20;
const TTL_MS: Readonly<Record<CacheTtl, number>> = { '5m': 5 * 60_000, '1h': 60 * 60_000 };
export const DEFAULT_MAX_CACHE_ENTRIES = 10_000;

export interface CacheUsage {
  readonly input_tokens: number;
  readonly cache_read_input_tokens: number;
  readonly cache_creation_input_tokens: number;
  readonly cache_creation: { readonly ephemeral_5m_input_tokens: number; readonly ephemeral_1h_input_tokens: number };
}

export interface CacheLookup {
  readonly usage: CacheUsage;
  /** Applies the reads' refreshes and the writes: call it once the reply is really sent. */
  readonly commit: () => void;
}

interface Entry {
  readonly ttl: CacheTtl;
  expiresAt: number;
}

export interface PromptCacheOptions {
  /** Default 10,000 entries; the least recently used goes first. */
  readonly maxEntries?: number;
  /** Milliseconds since the epoch; default Date.now. Tests pass a clock they move. */
  readonly now?: () => number;
}

export const noCache = (inputTokens: number): CacheUsage => ({
  input_tokens: inputTokens,
  cache_read_input_tokens: 0,
  cache_creation_input_tokens: 0,
  cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 0 },
});

export class PromptCache {
  // A Map iterates in insertion order: re-inserting on use keeps the least recent first.
  readonly #entries = new Map<string, Entry>();
  readonly #maxEntries: number;
  readonly #now: () => number;

  constructor(options: PromptCacheOptions = {}) {
    this.#maxEntries = options.maxEntries ?? DEFAULT_MAX_CACHE_ENTRIES;
    this.#now = options.now ?? Date.now;
  }

  get size(): number {
    return this.#entries.size;
  }

  clear(): void {
    this.#entries.clear();
  }

  /**
   * `totalTokens` is the estimate of the whole request (it may exceed the last point's prefix by
   * rounding only); `minTokens` the model's minimum cacheable prefix.
   */
  lookup(points: readonly PrefixPoint[], totalTokens: number, minTokens: number): CacheLookup {
    const now = this.#now();
    const breakpoints = points.flatMap((point, index) => (point.breakpoint ? [index] : []));
    let hit = -1;
    for (const at of breakpoints) {
      for (let index = at; index >= Math.max(0, at - LOOKBACK_BLOCKS + 1) && index > hit; index -= 1) {
        const point = points[index];
        if (point && this.#live(point.hash, now)) {
          hit = index;
          break;
        }
      }
    }
    const read = hit >= 0 ? (points[hit]?.tokens ?? 0) : 0;
    const writes: Array<{ readonly point: PrefixPoint; readonly ttl: CacheTtl; readonly tokens: number }> = [];
    let written = read;
    for (const at of breakpoints) {
      const point = points[at];
      if (!point?.breakpoint || at <= hit || point.tokens < minTokens) continue;
      writes.push({ point, ttl: point.breakpoint, tokens: point.tokens - written });
      written = point.tokens;
    }
    const byTtl = (ttl: CacheTtl): number => writes.filter((w) => w.ttl === ttl).reduce((sum, w) => sum + w.tokens, 0);
    const creation = written - read;
    const usage: CacheUsage = {
      input_tokens: Math.max(0, totalTokens - written),
      cache_read_input_tokens: read,
      cache_creation_input_tokens: creation,
      cache_creation: { ephemeral_5m_input_tokens: byTtl('5m'), ephemeral_1h_input_tokens: byTtl('1h') },
    };
    const hitHash = hit >= 0 ? points[hit]?.hash : undefined;
    return {
      usage,
      commit: () => {
        const at = this.#now();
        if (hitHash !== undefined) this.#touch(hitHash, at);
        for (const write of writes) this.#put(write.point.hash, write.ttl, at);
      },
    };
  }

  #live(hash: string, now: number): boolean {
    const entry = this.#entries.get(hash);
    if (entry === undefined) return false;
    if (entry.expiresAt > now) return true;
    this.#entries.delete(hash);
    return false;
  }

  #touch(hash: string, now: number): void {
    const entry = this.#entries.get(hash);
    if (entry === undefined) return;
    entry.expiresAt = now + TTL_MS[entry.ttl];
    this.#entries.delete(hash);
    this.#entries.set(hash, entry);
  }

  #put(hash: string, ttl: CacheTtl, now: number): void {
    const existing = this.#entries.get(hash);
    // A prefix cached for an hour is not shortened by a later 5-minute write of the same prefix.
    const keep = existing !== undefined && existing.expiresAt > now && TTL_MS[existing.ttl] > TTL_MS[ttl];
    const entry: Entry = keep ? { ttl: existing.ttl, expiresAt: now + TTL_MS[existing.ttl] } : { ttl, expiresAt: now + TTL_MS[ttl] };
    this.#entries.delete(hash);
    this.#entries.set(hash, entry);
    for (const oldest of this.#entries.keys()) {
      if (this.#entries.size <= this.#maxEntries) break;
      this.#entries.delete(oldest);
    }
  }
}
