// Checks a request against the Messages API's rules before it is sent. The runner calls it
// before every send; an empty array means valid. Every violation is reported, not just the first.

import type { MessageCreateParamsBase } from '@anthropic-ai/sdk/resources/messages';
import { MAX_CACHE_BREAKPOINTS } from './cache-breakpoints.ts';
import { isBlank } from './request-message.ts';
import { validateMessages } from './validate-messages.ts';

/** The API's floor for a manual thinking budget. */
export const MIN_THINKING_BUDGET_TOKENS = 1024;

/**
 * Removed from the SDK's request type and rejected with a 400 by API version 2026-10-21 (the
 * version the SDK sends), even at their default values.
 */
const SAMPLING_PARAMETERS = ['temperature', 'top_p', 'top_k'] as const;

function hasMarker(value: object): boolean {
  return 'cache_control' in value && value.cache_control !== null && value.cache_control !== undefined;
}

/** Counts markers wherever the API accepts one, so a marker hidden anywhere is still counted. */
export function countCacheMarkers(params: MessageCreateParamsBase): number {
  let count = hasMarker(params) ? 1 : 0;
  for (const tool of params.tools ?? []) if (hasMarker(tool)) count++;
  if (Array.isArray(params.system)) for (const block of params.system) if (hasMarker(block)) count++;
  for (const message of params.messages) {
    if (typeof message.content === 'string') continue;
    for (const block of message.content) {
      if (hasMarker(block)) count++;
      if (block.type === 'tool_result' && Array.isArray(block.content)) {
        for (const inner of block.content) if (hasMarker(inner)) count++;
      }
    }
  }
  return count;
}

function checkSettings(params: MessageCreateParamsBase): string[] {
  const problems: string[] = [];
  if (isBlank(params.model)) problems.push('model: must not be empty');
  if (!Number.isInteger(params.max_tokens) || params.max_tokens < 1) {
    problems.push(`max_tokens: must be a positive integer, got ${params.max_tokens}`);
  }
  for (const name of SAMPLING_PARAMETERS) {
    if (name in params) problems.push(`${name}: not accepted by the API version in use; leave it out`);
  }
  if (Array.isArray(params.system)) {
    params.system.forEach((block, i) => {
      if (isBlank(block.text)) problems.push(`system[${i}]: text block is empty or blank`);
    });
  }

  const { thinking } = params;
  if (thinking?.type === 'enabled') {
    if (thinking.budget_tokens < MIN_THINKING_BUDGET_TOKENS) {
      problems.push(`thinking.budget_tokens: must be at least ${MIN_THINKING_BUDGET_TOKENS}, got ${thinking.budget_tokens}`);
    }
    if (thinking.budget_tokens >= params.max_tokens) {
      problems.push(`thinking.budget_tokens: must be less than max_tokens (${thinking.budget_tokens} >= ${params.max_tokens})`);
    }
    const choice = params.tool_choice?.type;
    if (choice === 'any' || choice === 'tool') {
      problems.push(`tool_choice: ${choice} forces tool use, which manual thinking does not allow`);
    }
  }
  return problems;
}

function checkTools(params: MessageCreateParamsBase): string[] {
  const problems: string[] = [];
  const names = new Set<string>();
  (params.tools ?? []).forEach((tool, i) => {
    if (!('name' in tool)) return;
    if (names.has(tool.name)) problems.push(`tools[${i}]: tool name ${tool.name} is defined more than once`);
    names.add(tool.name);
  });
  return problems;
}

/** `continuing`: the request continues a reply the API paused, so it ends with that reply. */
export function validateRequest(params: MessageCreateParamsBase, options: { continuing?: boolean } = {}): string[] {
  const problems = [...checkSettings(params), ...checkTools(params), ...validateMessages(params.messages, options)];
  const markers = countCacheMarkers(params);
  if (markers > MAX_CACHE_BREAKPOINTS) {
    problems.push(`cache_control: ${markers} markers, at most ${MAX_CACHE_BREAKPOINTS} are allowed`);
  }
  return problems;
}
