// The one place that decides cache_control markers. Everything else in the request is built
// without markers, and markers arriving from callers (tool definitions) are removed here, so the
// count below is the count in the request: never the five markers from two code paths that
// broke a system before us.

import type { CacheControlEphemeral, TextBlockParam, Tool } from '@anthropic-ai/sdk/resources/messages';
import { isBlank, type HistoryBlock, type RequestMessage } from './request-message.ts';

/** The API's limit on cache_control markers in one request. */
export const MAX_CACHE_BREAKPOINTS = 4;

interface CacheableParts {
  tools: Tool[];
  system: TextBlockParam[];
  messages: RequestMessage[];
}

type Location =
  | { kind: 'tool'; index: number }
  | { kind: 'system'; index: number }
  | { kind: 'message'; turn: number; block: number };

function marker(): CacheControlEphemeral {
  return { type: 'ephemeral' };
}

function withoutMarker<T extends object>(value: T): T {
  if (!('cache_control' in value)) return value;
  const copy = { ...value };
  Reflect.deleteProperty(copy, 'cache_control');
  return copy;
}

/** Thinking blocks cannot carry a marker, and a marker on an empty block is rejected. */
function isCacheable(block: HistoryBlock): boolean {
  switch (block.type) {
    case 'text':
      return !isBlank(block.text);
    case 'tool_use':
      return true;
    case 'tool_result':
      return typeof block.content === 'string' ? !isBlank(block.content) : (block.content?.length ?? 0) > 0;
    case 'thinking':
    case 'redacted_thinking':
      return false;
  }
}

function lastCacheableBlock(turn: RequestMessage): number {
  for (let i = turn.content.length - 1; i >= 0; i--) {
    const block = turn.content[i];
    if (block !== undefined && isCacheable(block)) return i;
  }
  return -1;
}

/**
 * Breakpoints in prefix order, most stable first: tools, system, then the user turn before the
 * newest (where the previous request wrote its cache, so this one reads it) and the newest user
 * turn (written now for the next request). The cap keeps the first ones if there were ever more.
 */
function chooseLocations(parts: CacheableParts): Location[] {
  const locations: Location[] = [];
  if (parts.tools.length > 0) locations.push({ kind: 'tool', index: parts.tools.length - 1 });
  const systemIndex = parts.system.findLastIndex((b) => !isBlank(b.text));
  if (systemIndex >= 0) locations.push({ kind: 'system', index: systemIndex });

  const userTurns: number[] = [];
  parts.messages.forEach((turn, index) => {
    if (turn.role === 'user') userTurns.push(index);
  });
  for (const turnIndex of userTurns.slice(-2)) {
    const turn = parts.messages[turnIndex];
    const block = turn === undefined ? -1 : lastCacheableBlock(turn);
    if (block >= 0) locations.push({ kind: 'message', turn: turnIndex, block });
  }
  return locations.slice(0, MAX_CACHE_BREAKPOINTS);
}

/** Returns copies of the parts with every caller marker removed and the chosen ones placed. */
export function placeCacheBreakpoints(parts: CacheableParts): CacheableParts {
  const clean: CacheableParts = {
    tools: parts.tools.map(withoutMarker),
    system: parts.system.map(withoutMarker),
    messages: parts.messages.map((t) => ({ role: t.role, content: t.content.map(withoutMarker) })),
  };

  for (const location of chooseLocations(clean)) {
    switch (location.kind) {
      case 'tool': {
        const tool = clean.tools[location.index];
        if (tool !== undefined) clean.tools[location.index] = { ...tool, cache_control: marker() };
        break;
      }
      case 'system': {
        const block = clean.system[location.index];
        if (block !== undefined) clean.system[location.index] = { ...block, cache_control: marker() };
        break;
      }
      case 'message': {
        const turn = clean.messages[location.turn];
        const block = turn?.content[location.block];
        if (turn === undefined || block === undefined) break;
        if (block.type === 'thinking' || block.type === 'redacted_thinking') break;
        turn.content[location.block] = { ...block, cache_control: marker() };
        break;
      }
    }
  }
  return clean;
}
