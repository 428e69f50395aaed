import type { MessagesRequest, ReplyBlock, ReplyTurn, WireBlock, WireMessage, WireTool } from './types.ts';

/**
 * The model the service talks to when no API key is configured: deterministic, plainly labelled,
 * and just capable enough to walk the whole loop (text, a tool call, the answer after the result).
 * Pure: the same request always gets the same reply.
 */

export const OFFLINE_LABEL = '[offline model]';
export const DEFAULT_OFFLINE_TOKENS_PER_SECOND = 30;

export interface OfflineModelOptions {
  /** Pacing of the reply; default 30 tokens/s, so a person watching sees it stream. */
  readonly tokensPerSecond?: number;
}

type Rec = Record<string, unknown>;
const isRecord = (value: unknown): value is Rec => typeof value === 'object' && value !== null && !Array.isArray(value);
const isString = (value: unknown): value is string => typeof value === 'string';

const QUOTE_LIMIT = 200;
const QUOTE_HEAD = 160;
const RESULT_LIMIT = 300;
const FILL_LIMIT = 500;

const blocksOf = (message: WireMessage): readonly WireBlock[] =>
  typeof message.content === 'string' ? [{ type: 'text', text: message.content }] : message.content;

const textOf = (blocks: readonly WireBlock[]): string =>
  blocks
    .filter((block) => block.type === 'text' && isString(block.text))
    .map((block) => String(block.text))
    .join('\n');

const collapse = (text: string): string => text.replace(/\s+/g, ' ').trim();

function truncate(text: string, limit: number): string {
  const chars = Array.from(text);
  return chars.length <= limit ? text : `${chars.slice(0, limit).join('')}…`;
}

/**
 * A request whose last message is the assistant's asks the model to go on from that content: a
 * prefill, or the continuation of a turn that stopped with `pause_turn`, which the client sends
 * back as it was (the server-tools documentation).
 */
export function continuesAssistantTurn(request: Pick<MessagesRequest, 'messages'>): boolean {
  return request.messages.at(-1)?.role === 'assistant';
}

export function offlineReply(request: MessagesRequest, options: OfflineModelOptions = {}): ReplyTurn {
  const messages = request.messages;
  const newestIndex = messages.findLastIndex((message) => message.role === 'user');
  const newest = messages[newestIndex];
  const blocks = newest ? blocksOf(newest) : [];
  const text = collapse(textOf(blocks));
  const results = blocks.filter((block) => block.type === 'tool_result');
  const userTurns = messages.filter(
    (message) => message.role === 'user' && blocksOf(message).some((block) => block.type !== 'tool_result'),
  ).length;
  const thinkingOn = request.thinking?.type === 'enabled' || request.thinking?.type === 'adaptive';
  const tokensPerSecond = options.tokensPerSecond ?? DEFAULT_OFFLINE_TOKENS_PER_SECOND;

  const reply = (plan: string, replyBlocks: ReplyBlock[]): ReplyTurn => ({
    blocks: thinkingOn ? [{ type: 'thinking', thinking: `${OFFLINE_LABEL} ${plan}` }, ...replyBlocks] : replyBlocks,
    tokensPerSecond,
  });

  // Going on from the assistant's own content, not answering the user again: the reply joins it.
  if (continuesAssistantTurn(request)) {
    return reply('I paused mid-turn; I will finish it.', [
      { type: 'text', text: `${OFFLINE_LABEL} (continuing the turn) That is all I have to add.` },
    ]);
  }

  // Results always get a plain answer, never another call: that is what ends every tool loop.
  if (results.length > 0) {
    const sentences = results.map((result) => describeResult(result, messages.slice(0, newestIndex)));
    const also = text ? ` You also said: “${quote(text)}”.` : '';
    return reply('The tool results arrived; I will report them.', [
      { type: 'text', text: `${OFFLINE_LABEL} ${sentences.join(' ')}${also}` },
    ]);
  }

  const tool = chooseTool(request, text);
  if (tool) {
    return reply(`The user asked for something the \`${tool.name}\` tool provides; I will call it.`, [
      { type: 'text', text: `${OFFLINE_LABEL} I will use the \`${tool.name}\` tool for that.` },
      { type: 'tool_use', name: tool.name, input: deriveToolInput(tool, text) },
    ]);
  }

  const said = text ? `You said: “${quote(text)}”.` : 'Your message had no text.';
  return reply('The user wrote to me; I will echo it back.', [
    {
      type: 'text',
      text:
        `${OFFLINE_LABEL} ${said} This is user turn ${userTurns} of this conversation ` +
        `(${messages.length} ${messages.length === 1 ? 'message' : 'messages'} in the request). ` +
        'No Anthropic API key is configured, so replies come from this offline stand-in: set ANTHROPIC_API_KEY to talk to Claude.',
    },
  ]);
}

function quote(text: string): string {
  if (Array.from(text).length <= QUOTE_LIMIT) return text;
  const words = text.split(' ').length;
  return `${truncate(text, QUOTE_HEAD)} (${words} words)`;
}

function describeResult(result: WireBlock, earlier: readonly WireMessage[]): string {
  const id = isString(result.tool_use_id) ? result.tool_use_id : '';
  const name = toolNameFor(id, earlier) ?? 'requested';
  const content = truncate(collapse(resultText(result.content)), RESULT_LIMIT) || '(nothing)';
  return result.is_error === true
    ? `The \`${name}\` tool reported an error: ${content}`
    : `The \`${name}\` tool returned: ${content}`;
}

function resultText(content: unknown): string {
  if (isString(content)) return content;
  if (!Array.isArray(content)) return '';
  return content
    .map((block: unknown) => {
      if (!isRecord(block)) return '';
      if (block.type === 'text' && isString(block.text)) return block.text;
      return isString(block.type) ? `[${block.type}]` : '';
    })
    .join(' ');
}

function toolNameFor(id: string, earlier: readonly WireMessage[]): string | undefined {
  for (let i = earlier.length - 1; i >= 0; i -= 1) {
    const message = earlier[i];
    if (message?.role !== 'assistant') continue;
    const use = blocksOf(message).find((block) => block.type === 'tool_use' && block.id === id);
    if (use && isString(use.name)) return use.name;
  }
  return undefined;
}

/** Server tools (web search, code execution…) run on Anthropic's side: the offline model cannot call them. */
const isClientTool = (tool: WireTool): boolean => tool.type === undefined || tool.type === 'custom';

interface Intent {
  readonly asks: RegExp;
  readonly tool: RegExp;
}

const INTENTS: readonly Intent[] = [
  { asks: /\b(time|clock|date|today|now)\b/i, tool: /time|clock|date|now/i },
  {
    asks: /\b(calculate|calc|compute|evaluate|sum|multiply|divide|plus|minus|times)\b|\d\s*[-+*/×÷^%]\s*[\d(]/i,
    tool: /calc|evaluat|math|arith|comput/i,
  },
  { asks: /\b(weather|temperature|forecast)\b/i, tool: /weather|forecast/i },
  { asks: /\b(search|look up|lookup)\b/i, tool: /search|lookup|find/i },
];

const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** `current_time`, `current-time` and `currentTime` are all mentioned by "current time". */
function nameVariants(name: string): string[] {
  const spaced = name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/[_-]+/g, ' ')
    .toLowerCase()
    .trim();
  return [...new Set([name.toLowerCase(), spaced])].filter((variant) => variant.length > 0);
}

export function mentionsTool(text: string, name: string): boolean {
  return nameVariants(name).some((variant) =>
    new RegExp(`(^|[^a-z0-9_])${escapeRegExp(variant)}($|[^a-z0-9_])`, 'i').test(text),
  );
}

export function chooseTool(request: MessagesRequest, text: string): WireTool | undefined {
  const tools = (request.tools ?? []).filter(isClientTool);
  const choice = request.tool_choice;
  if (tools.length === 0 || choice?.type === 'none') return undefined;
  if (choice?.type === 'tool') return tools.find((tool) => tool.name === choice.name);
  const named = tools.find((tool) => mentionsTool(text, tool.name));
  if (named) return named;
  for (const intent of INTENTS) {
    if (!intent.asks.test(text)) continue;
    const fitting = tools.find((tool) => intent.tool.test(tool.name));
    if (fitting) return fitting;
  }
  return choice?.type === 'any' ? tools[0] : undefined;
}

/**
 * A plausible input for `tool` from the user's words: recognised properties (time zone,
 * expression, place) get a value taken from the text, other required properties a value of
 * their schema's type (strings: the text itself).
 */
export function deriveToolInput(tool: WireTool, text: string): Record<string, unknown> {
  const schema = isRecord(tool.input_schema) ? tool.input_schema : {};
  const properties = isRecord(schema.properties) ? schema.properties : {};
  const required = Array.isArray(schema.required) ? schema.required.filter(isString) : [];
  const fill = truncate(text, FILL_LIMIT);
  const input: Record<string, unknown> = {};
  for (const [name, property] of Object.entries(properties)) {
    const propertySchema = isRecord(property) ? property : {};
    const hinted = hintedValue(name, text);
    if (hinted !== undefined) input[name] = hinted;
    else if (required.includes(name)) input[name] = valueOfType(propertySchema, fill);
  }
  for (const name of required) if (!(name in input)) input[name] = fill;
  return input;
}

function hintedValue(name: string, text: string): string | undefined {
  if (/time_?zone|^tz$/i.test(name)) return extractTimeZone(text) ?? 'UTC';
  if (/expr|formula|equation|calculation/i.test(name)) return extractExpression(text);
  if (/city|location|place/i.test(name)) return extractPlace(text);
  return undefined;
}

export function extractTimeZone(text: string): string | undefined {
  const iana = /\b([A-Z][A-Za-z_]+\/[A-Z][A-Za-z_]+(?:\/[A-Z][A-Za-z_]+)?)\b/.exec(text);
  if (iana?.[1]) return iana[1];
  return /\b(UTC|GMT)\b/i.test(text) ? 'UTC' : undefined;
}

export function extractExpression(text: string): string | undefined {
  const normalised = text.replace(/×/g, '*').replace(/÷/g, '/');
  const candidates = normalised.match(/[\d.(][\d\s.+\-*/^%()]*/g) ?? [];
  let best: string | undefined;
  for (const candidate of candidates) {
    const trimmed = candidate.trim().replace(/[\s+\-*/^%(]+$/, '');
    if (!/\d\s*[-+*/^%]\s*[\d(.]/.test(trimmed)) continue;
    if (best === undefined || trimmed.length > best.length) best = trimmed;
  }
  return best;
}

function extractPlace(text: string): string | undefined {
  return /\b(?:in|at|for)\s+([A-Z][\w'-]*(?:,?\s+[A-Z][\w'-]*)*)/.exec(text)?.[1];
}

function valueOfType(schema: Rec, fill: string): unknown {
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum[0];
  const type = Array.isArray(schema.type) ? schema.type.find((t: unknown) => t !== 'null') : schema.type;
  switch (type) {
    case 'number':
    case 'integer': {
      const number = /-?\d+(?:\.\d+)?/.exec(fill);
      const value = number ? Number(number[0]) : 0;
      return type === 'integer' ? Math.trunc(value) : value;
    }
    case 'boolean':
      return false;
    case 'array':
      return [];
    case 'object':
      return {};
    default:
      return fill;
  }
}
