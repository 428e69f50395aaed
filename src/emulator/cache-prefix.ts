import { createHash } from 'node:crypto';

import { invalidRequest } from './errors.ts';
import { blockChars } from './tokens.ts';
import type { MessagesRequest, WireBlock } from './types.ts';

/**
 * A request as the prompt cache sees it: its blocks in prefix order (tools, then system, then
 * messages), each with the hash of the whole prefix up to and including it and that prefix's
 * size in the emulator's token estimate. Pure.
 */

export type CacheTtl = '5m' | '1h';

export interface PrefixPoint {
  /** Chains every earlier block's hash, and the model, which is part of the cache key. */
  readonly hash: string;
  /** The prefix up to and including this block, as estimateInputTokens would count it alone. */
  readonly tokens: number;
  /** Set when this block carries a `cache_control` breakpoint. */
  readonly breakpoint?: CacheTtl;
}

type Rec = Record<string, unknown>;
const isRecord = (value: unknown): value is Rec => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * `{type: 'ephemeral', ttl?: '5m' | '1h'}` as @anthropic-ai/sdk's CacheControlEphemeral has it,
 * `5m` by default. The wording of a refusal follows the API's field errors; it was not seen
 * verbatim.
 */
function parseCacheControl(value: unknown, at: string): CacheTtl | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isRecord(value) || value.type !== 'ephemeral') throw invalidRequest(`${at}.cache_control.type: Input should be 'ephemeral'`);
  const ttl = value.ttl ?? '5m';
  if (ttl !== '5m' && ttl !== '1h') throw invalidRequest(`${at}.cache_control.ttl: Input should be '5m' or '1h'`);
  return ttl;
}

/** A marker moves from turn to turn, so it is no part of the content the cache keys on. */
function withoutMarkers(block: Rec): Rec {
  const { cache_control: _marker, ...rest } = block;
  if (!Array.isArray(rest.content)) return rest;
  return { ...rest, content: (rest.content as unknown[]).map((inner) => (isRecord(inner) ? withoutMarkers(inner) : inner)) };
}

/** A tool_result's marker may sit on one of its inner blocks; it still ends the prefix at the result. */
function blockBreakpoint(block: WireBlock, at: string): CacheTtl | undefined {
  const own = parseCacheControl(block.cache_control, at);
  if (own !== undefined || !Array.isArray(block.content)) return own;
  let inner: CacheTtl | undefined;
  (block.content as unknown[]).forEach((item, k) => {
    if (isRecord(item)) inner = parseCacheControl(item.cache_control, `${at}.content.${k}`) ?? inner;
  });
  return inner;
}

interface RawPoint {
  readonly key: unknown;
  readonly chars: number;
  readonly breakpoint: CacheTtl | undefined;
}

function rawPoints(request: MessagesRequest): RawPoint[] {
  const points: RawPoint[] = [];
  (request.tools ?? []).forEach((tool, i) => {
    // The same count estimateInputTokens gives a tool: its JSON, marker included.
    points.push({ key: ['tool', withoutMarkers(tool)], chars: JSON.stringify(tool).length, breakpoint: parseCacheControl(tool.cache_control, `tools.${i}`) });
  });
  const system = request.system;
  if (typeof system === 'string') points.push({ key: ['system', system], chars: system.length, breakpoint: undefined });
  else {
    system?.forEach((block, i) => {
      points.push({ key: ['system', withoutMarkers(block)], chars: blockChars(block), breakpoint: blockBreakpoint(block, `system.${i}`) });
    });
  }
  request.messages.forEach((message, i) => {
    const blocks: readonly WireBlock[] = typeof message.content === 'string' ? [{ type: 'text', text: message.content }] : message.content;
    blocks.forEach((block, j) => {
      // Where a message starts is part of the prompt: [A, B] in one turn is not [A] then [B].
      const key = [j === 0 ? `message:${message.role}` : 'block', withoutMarkers(block)];
      points.push({ key, chars: blockChars(block), breakpoint: blockBreakpoint(block, `messages.${i}.content.${j}`) });
    });
  });
  return points;
}

/**
 * `topLevel` is the request's own `cache_control` (automatic caching): a breakpoint on the last
 * block, as the prompt-caching documentation describes it.
 */
export function prefixPoints(request: MessagesRequest, topLevel?: unknown): PrefixPoint[] {
  const raw = rawPoints(request);
  const automatic = parseCacheControl(topLevel, 'body');
  let hash = createHash('sha256').update(JSON.stringify(['model', request.model])).digest('hex');
  let chars = 0;
  return raw.map((point, i) => {
    hash = createHash('sha256').update(hash).update(JSON.stringify(point.key)).digest('hex');
    chars += point.chars;
    const breakpoint = point.breakpoint ?? (i === raw.length - 1 ? automatic : undefined);
    return { hash, tokens: Math.ceil(chars / 4), ...(breakpoint ? { breakpoint } : {}) };
  });
}
