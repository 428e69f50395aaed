// The model request that summarizes older turns (compaction). The turns go as a transcript in
// one user message, not as turns: tool calls then need no tool definitions, thinking blocks no
// signatures, and a long tool result can be shortened, so the request fits the window whatever
// the turns held.
import type { MessageCreateParamsBase } from '@anthropic-ai/sdk/resources/messages';
import type { BlockContent } from '../../domain/records.ts';
import type { Exchange } from '../history/index.ts';

/** Room the summary may take; the history after compaction budgets for it. */
export const SUMMARY_MAX_TOKENS = 2048;
/** A tool's input or result longer than this is cut in the transcript. */
const TOOL_TEXT_MAX_CHARS = 2_000;

const INSTRUCTIONS = [
  'You are summarizing the earlier part of a conversation between a user and an assistant, so that the assistant can go on with it without the full text.',
  'Write a summary the assistant can rely on: the user\'s goals and requests, decisions and conclusions, facts and figures given or found (tool results included), names, open questions and anything promised.',
  'Keep exact values (numbers, identifiers, code, quotes) where they may matter later. Leave out greetings and small talk.',
  'Write only the summary, in the language of the conversation, as plain prose or short lists.',
].join(' ');

function cut(text: string): string {
  const chars = Array.from(text);
  return chars.length > TOOL_TEXT_MAX_CHARS ? `${chars.slice(0, TOOL_TEXT_MAX_CHARS).join('')} […]` : text;
}

function blockLine(speaker: 'User' | 'Assistant', block: BlockContent): string | null {
  switch (block.type) {
    case 'text':
      return block.text.trim() === '' ? null : `${speaker}: ${block.text}`;
    case 'tool_use':
      return `Assistant called the tool ${block.name} with ${cut(JSON.stringify(block.input))}`;
    case 'tool_result':
      return `The tool ${block.isError ? 'failed' : 'answered'}: ${cut(block.content)}`;
    case 'thinking':
    case 'redacted_thinking':
      // The assistant's private reasoning: the conclusions it reached are in its text.
      return null;
  }
}

/** The exchanges as text, after the summary that already stood for what came before them. */
export function transcriptOf(exchanges: readonly Exchange[], previousSummary: string | null): string {
  const lines: string[] = [];
  if (previousSummary !== null) lines.push(`(Summary of what came before:)\n${previousSummary}`);
  for (const exchange of exchanges) {
    for (const block of exchange.user.blocks) lines.push(blockLine('User', block) ?? '');
    for (const block of exchange.reply?.blocks ?? []) lines.push(blockLine('Assistant', block) ?? '');
  }
  return lines.filter((line) => line !== '').join('\n\n');
}

export function summaryRequest(model: string, transcript: string, maxTokens: number): MessageCreateParamsBase {
  return {
    model,
    max_tokens: Math.min(maxTokens, SUMMARY_MAX_TOKENS),
    system: INSTRUCTIONS,
    messages: [{ role: 'user', content: `<conversation>\n${transcript}\n</conversation>\n\nSummarize the conversation above as instructed.` }],
  };
}
