import { invalidRequest } from './errors.ts';
import type { MessagesRequest, WireBlock, WireMessage, WireTool } from './types.ts';

/**
 * The API's request rules that clients most often break, with the API's own wording, so a bad
 * history fails against the emulator the way it would fail in production.
 */

type Rec = Record<string, unknown>;

const isRecord = (value: unknown): value is Rec => typeof value === 'object' && value !== null && !Array.isArray(value);

export interface ValidationOptions {
  /** Tool pairing, thinking-before-tool-use and signature checks; off only for tests of other rules. */
  readonly strictHistory: boolean;
  /** Signatures this emulator issued, with the exact thinking text each one signs. */
  readonly knownSignatures: ReadonlyMap<string, string>;
}

export type CountTokensRequest = Pick<MessagesRequest, 'model' | 'messages' | 'system' | 'tools' | 'thinking'>;

const MAX_CACHE_CONTROL = 4;
const MIN_THINKING_BUDGET = 1024;
const TOOL_NAME = /^[a-zA-Z0-9_-]{1,128}$/;
const ROLES: ReadonlySet<string> = new Set(['user', 'assistant', 'system']);
const THINKING_ON: ReadonlySet<string> = new Set(['enabled', 'adaptive']);

export function parseMessagesRequest(body: unknown, options: ValidationOptions): MessagesRequest {
  const rec = requireObject(body);
  const model = parseModel(rec);
  if (!('max_tokens' in rec)) throw invalidRequest('max_tokens: Field required');
  const maxTokens = rec.max_tokens;
  if (typeof maxTokens !== 'number' || !Number.isInteger(maxTokens)) {
    throw invalidRequest('max_tokens: Input should be a valid integer');
  }
  if (maxTokens < 1) throw invalidRequest('max_tokens: Input should be greater than or equal to 1');
  if ('stream' in rec && typeof rec.stream !== 'boolean') throw invalidRequest('stream: Input should be a valid boolean');
  const stopSequences = parseStopSequences(rec.stop_sequences);
  const common = parseCommon(rec, options);
  if (common.thinking?.type === 'enabled') {
    const budget = common.thinking.budget_tokens;
    if (budget !== undefined && budget >= maxTokens) {
      throw invalidRequest(
        '`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size',
      );
    }
  }
  const toolChoice = parseToolChoice(rec.tool_choice);
  // Fields the emulator reads are replaced by their checked form; the rest travel as sent.
  const { system: _system, tools: _tools, thinking: _thinking, tool_choice: _choice, stop_sequences: _stops, ...rest } = rec;
  return {
    ...rest,
    ...common,
    model,
    max_tokens: maxTokens,
    ...(stopSequences ? { stop_sequences: stopSequences } : {}),
    ...(toolChoice ? { tool_choice: toolChoice } : {}),
  };
}

function parseToolChoice(value: unknown): { type: string; name?: string } | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isRecord(value) || typeof value.type !== 'string') throw invalidRequest('tool_choice.type: Field required');
  if (value.type !== 'tool') return { ...value, type: value.type };
  if (typeof value.name !== 'string') throw invalidRequest('tool_choice.tool.name: Field required');
  return { ...value, type: value.type, name: value.name };
}

export function parseCountTokensRequest(body: unknown, options: ValidationOptions): CountTokensRequest {
  const rec = requireObject(body);
  return { ...parseCommon(rec, options), model: parseModel(rec) };
}

function requireObject(body: unknown): Rec {
  if (!isRecord(body)) throw invalidRequest('Input should be a valid dictionary');
  return body;
}

function parseModel(rec: Rec): string {
  if (!('model' in rec)) throw invalidRequest('model: Field required');
  if (typeof rec.model !== 'string') throw invalidRequest('model: Input should be a valid string');
  if (rec.model.length === 0) throw invalidRequest('model: String should have at least 1 character');
  return rec.model;
}

function parseStopSequences(value: unknown): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) throw invalidRequest('stop_sequences: Input should be a valid list');
  return value.map((item: unknown, i) => {
    if (typeof item !== 'string') throw invalidRequest(`stop_sequences.${i}: Input should be a valid string`);
    return item;
  });
}

interface Common {
  messages: WireMessage[];
  system?: string | WireBlock[];
  tools?: WireTool[];
  thinking?: { type: string; budget_tokens?: number };
}

function parseCommon(rec: Rec, options: ValidationOptions): Common {
  const messages = parseMessages(rec.messages, 'messages' in rec);
  const system = parseSystem(rec.system);
  const tools = parseTools(rec.tools);
  const thinking = parseThinking(rec.thinking);
  countCacheControl(system, tools, messages);
  checkThinkingSignatures(messages, options.knownSignatures);
  if (options.strictHistory) {
    checkToolPairing(messages);
    if (thinking && THINKING_ON.has(thinking.type)) checkThinkingBeforeToolUse(messages);
  }
  return {
    messages,
    ...(system !== undefined ? { system } : {}),
    ...(tools !== undefined ? { tools } : {}),
    ...(thinking !== undefined ? { thinking } : {}),
  };
}

function parseMessages(value: unknown, present: boolean): WireMessage[] {
  if (!present) throw invalidRequest('messages: Field required');
  if (!Array.isArray(value)) throw invalidRequest('messages: Input should be a valid list');
  if (value.length === 0) throw invalidRequest('messages: at least one message is required');
  const messages = value.map((item: unknown, i) => parseMessage(item, i, i === value.length - 1));
  if (messages[0]?.role !== 'user') throw invalidRequest('messages: first message must use the "user" role');
  const last = messages.at(-1);
  // A final assistant message is a prefill or a paused turn sent back; the API's 400 for one that
  // ends in whitespace, verbatim in tailcallhq/forgecode#1872 and GCWing/OpenBitFun#825.
  if (last?.role === 'assistant' && /\s$/.test(lastText(last))) {
    throw invalidRequest('messages: final assistant content cannot end with trailing whitespace');
  }
  return messages;
}

function lastText(message: WireMessage): string {
  if (typeof message.content === 'string') return message.content;
  const block = message.content.at(-1);
  return block?.type === 'text' && typeof block.text === 'string' ? block.text : '';
}

function parseMessage(value: unknown, i: number, isLast: boolean): WireMessage {
  if (!isRecord(value)) throw invalidRequest(`messages.${i}: Input should be a valid dictionary`);
  const role = value.role;
  if (typeof role !== 'string' || !ROLES.has(role)) {
    throw invalidRequest(`messages.${i}.role: Input should be 'user', 'assistant' or 'system'`);
  }
  if (!('content' in value)) throw invalidRequest(`messages.${i}.content: Field required`);
  const content = value.content;
  const mayBeEmpty = isLast && role === 'assistant';
  const emptyContent = `messages.${i}: all messages must have non-empty content except for the optional final assistant message`;
  if (typeof content === 'string') {
    if (content.length === 0 && !mayBeEmpty) throw invalidRequest(emptyContent);
    return { role: role as WireMessage['role'], content };
  }
  if (!Array.isArray(content)) throw invalidRequest(`messages.${i}.content: Input should be a valid string or list`);
  if (content.length === 0 && !mayBeEmpty) throw invalidRequest(emptyContent);
  const blocks = content.map((block: unknown, j) => parseBlock(block, `messages.${i}.content.${j}`));
  return { role: role as WireMessage['role'], content: blocks };
}

function parseBlock(value: unknown, at: string): WireBlock {
  if (!isRecord(value)) throw invalidRequest(`${at}: Input should be a valid dictionary`);
  const type = value.type;
  if (typeof type !== 'string') throw invalidRequest(`${at}.type: Field required`);
  const block: WireBlock = { ...value, type };
  switch (type) {
    case 'text':
      if (typeof block.text !== 'string') throw invalidRequest(`${at}.text: Input should be a valid string`);
      if (block.text.length === 0) throw invalidRequest(`${at}.text: text content blocks must be non-empty`);
      break;
    case 'thinking':
      if (typeof block.thinking !== 'string') throw invalidRequest(`${at}.thinking: Field required`);
      if (typeof block.signature !== 'string') throw invalidRequest(`${at}.signature: Field required`);
      break;
    case 'redacted_thinking':
      if (typeof block.data !== 'string') throw invalidRequest(`${at}.data: Field required`);
      break;
    case 'tool_use':
      if (typeof block.id !== 'string') throw invalidRequest(`${at}.id: Field required`);
      if (typeof block.name !== 'string') throw invalidRequest(`${at}.name: Field required`);
      if (!isRecord(block.input)) throw invalidRequest(`${at}.input: Input should be a valid dictionary`);
      break;
    case 'server_tool_use':
      if (typeof block.id !== 'string') throw invalidRequest(`${at}.id: Field required`);
      if (typeof block.name !== 'string') throw invalidRequest(`${at}.name: Field required`);
      if (!isRecord(block.input)) throw invalidRequest(`${at}.input: Input should be a valid dictionary`);
      break;
    case 'web_search_tool_result':
      if (typeof block.tool_use_id !== 'string') throw invalidRequest(`${at}.tool_use_id: Field required`);
      checkWebSearchContent(block.content, `${at}.content`);
      break;
    case 'tool_result':
      if (typeof block.tool_use_id !== 'string') throw invalidRequest(`${at}.tool_use_id: Field required`);
      if (Array.isArray(block.content)) {
        block.content.forEach((inner: unknown, k) => parseBlock(inner, `${at}.content.${k}`));
      } else if (block.content !== undefined && typeof block.content !== 'string') {
        throw invalidRequest(`${at}.content: Input should be a valid string or list`);
      }
      break;
    default:
      break;
  }
  return block;
}

/** The results as the API sent them, or its error object; both go back unchanged. */
function checkWebSearchContent(content: unknown, at: string): void {
  if (isRecord(content)) {
    if (content.type !== 'web_search_tool_result_error') throw invalidRequest(`${at}.type: Input should be 'web_search_tool_result_error'`);
    if (typeof content.error_code !== 'string') throw invalidRequest(`${at}.error_code: Field required`);
    return;
  }
  if (!Array.isArray(content)) throw invalidRequest(`${at}: Input should be a valid list`);
  content.forEach((result: unknown, k) => {
    const where = `${at}.${k}`;
    if (!isRecord(result)) throw invalidRequest(`${where}: Input should be a valid dictionary`);
    if (result.type !== 'web_search_result') throw invalidRequest(`${where}.type: Input should be 'web_search_result'`);
    for (const field of ['url', 'title', 'encrypted_content'] as const) {
      if (typeof result[field] !== 'string') throw invalidRequest(`${where}.${field}: Field required`);
    }
  });
}

function parseSystem(value: unknown): string | WireBlock[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (!Array.isArray(value)) throw invalidRequest('system: Input should be a valid string or list');
  return value.map((block: unknown, i) => {
    const parsed = parseBlock(block, `system.${i}`);
    if (parsed.type !== 'text') throw invalidRequest(`system.${i}.type: Input should be 'text'`);
    return parsed;
  });
}

function parseTools(value: unknown): WireTool[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) throw invalidRequest('tools: Input should be a valid list');
  const names = new Set<string>();
  return value.map((tool: unknown, i): WireTool => {
    if (!isRecord(tool)) throw invalidRequest(`tools.${i}: Input should be a valid dictionary`);
    const name = tool.name;
    if (typeof name !== 'string') throw invalidRequest(`tools.${i}.name: Field required`);
    const custom = tool.type === undefined || tool.type === null || tool.type === 'custom';
    if (custom) {
      if (!TOOL_NAME.test(name)) {
        throw invalidRequest(`tools.${i}.custom.name: String should match pattern '^[a-zA-Z0-9_-]{1,128}$'`);
      }
      if (!isRecord(tool.input_schema)) throw invalidRequest(`tools.${i}.custom.input_schema: Field required`);
    }
    if (names.has(name)) throw invalidRequest('tools: Tool names must be unique.');
    names.add(name);
    const type = typeof tool.type === 'string' ? { type: tool.type } : {};
    return { ...tool, ...type, name };
  });
}

function parseThinking(value: unknown): { type: string; budget_tokens?: number } | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isRecord(value) || typeof value.type !== 'string') throw invalidRequest('thinking.type: Field required');
  if (value.type !== 'enabled') return { ...value, type: value.type };
  const budget = value.budget_tokens;
  if (typeof budget !== 'number' || !Number.isInteger(budget)) {
    throw invalidRequest('thinking.enabled.budget_tokens: Field required');
  }
  if (budget < MIN_THINKING_BUDGET) {
    throw invalidRequest(`thinking.enabled.budget_tokens: Input should be greater than or equal to ${MIN_THINKING_BUDGET}`);
  }
  return { ...value, type: value.type, budget_tokens: budget };
}

function countCacheControl(system: Common['system'], tools: Common['tools'], messages: readonly WireMessage[]): void {
  let found = 0;
  const visit = (block: Rec): void => {
    if (block.cache_control !== undefined && block.cache_control !== null) found += 1;
    if (Array.isArray(block.content)) {
      for (const inner of block.content as unknown[]) if (isRecord(inner)) visit(inner);
    }
  };
  if (Array.isArray(system)) system.forEach(visit);
  tools?.forEach(visit);
  for (const message of messages) if (Array.isArray(message.content)) message.content.forEach(visit);
  if (found > MAX_CACHE_CONTROL) {
    throw invalidRequest(`A maximum of ${MAX_CACHE_CONTROL} blocks with cache_control may be provided. Found ${found}.`);
  }
}

const blocksOf = (message: WireMessage): readonly WireBlock[] =>
  typeof message.content === 'string' ? [{ type: 'text', text: message.content }] : message.content;

function checkThinkingSignatures(messages: readonly WireMessage[], known: ReadonlyMap<string, string>): void {
  messages.forEach((message, i) => {
    if (message.role !== 'assistant') return;
    blocksOf(message).forEach((block, j) => {
      if (block.type !== 'thinking' || typeof block.signature !== 'string') return;
      const signed = known.get(block.signature);
      if (signed !== undefined && signed !== block.thinking) {
        throw invalidRequest(`messages.${i}.content.${j}: Invalid \`signature\` in \`thinking\` block`);
      }
    });
  });
}

interface LocatedBlock {
  readonly block: WireBlock;
  readonly message: number;
  readonly index: number;
}

interface Turn {
  readonly role: 'user' | 'assistant';
  readonly blocks: LocatedBlock[];
}

/** The API merges consecutive messages of one role into one turn before checking pairing. */
function mergeTurns(messages: readonly WireMessage[]): Turn[] {
  const turns: Turn[] = [];
  messages.forEach((message, i) => {
    if (message.role === 'system') return;
    const located = blocksOf(message).map((block, j) => ({ block, message: i, index: j }));
    const last = turns.at(-1);
    if (last && last.role === message.role) last.blocks.push(...located);
    else turns.push({ role: message.role, blocks: located });
  });
  return turns;
}

const toolUseId = (block: WireBlock): string | undefined =>
  block.type === 'tool_use' && typeof block.id === 'string' ? block.id : undefined;
const toolResultId = (block: WireBlock): string | undefined =>
  block.type === 'tool_result' && typeof block.tool_use_id === 'string' ? block.tool_use_id : undefined;

function checkToolPairing(messages: readonly WireMessage[]): void {
  const turns = mergeTurns(messages);
  const seen = new Set<string>();
  turns.forEach((turn, t) => {
    if (turn.role === 'assistant') {
      const uses = turn.blocks.filter((located) => toolUseId(located.block) !== undefined);
      for (const located of uses) {
        const id = toolUseId(located.block) ?? '';
        if (seen.has(id)) {
          throw invalidRequest(`messages.${located.message}.content.${located.index}: \`tool_use\` ids must be unique`);
        }
        seen.add(id);
      }
      const next = turns[t + 1];
      const first = uses[0];
      if (!next || !first) return;
      const answered = new Set<string>();
      for (const located of next.blocks) {
        const id = toolResultId(located.block);
        if (id === undefined) break;
        answered.add(id);
      }
      const missing = uses.map((located) => toolUseId(located.block) ?? '').filter((id) => !answered.has(id));
      if (missing.length > 0) {
        throw invalidRequest(
          `messages.${first.message}: \`tool_use\` ids were found without \`tool_result\` blocks immediately after: ${missing.join(', ')}. Each \`tool_use\` block must have a corresponding \`tool_result\` block in the next message.`,
        );
      }
      return;
    }
    const previous = t > 0 ? turns[t - 1] : undefined;
    const offered = new Set(previous?.blocks.map((located) => toolUseId(located.block)).filter((id) => id !== undefined));
    for (const located of turn.blocks) {
      const id = toolResultId(located.block);
      if (id !== undefined && !offered.has(id)) {
        throw invalidRequest(
          `messages.${located.message}.content.${located.index}: unexpected \`tool_use_id\` found in \`tool_result\` blocks: ${id}. Each \`tool_result\` block must have a corresponding \`tool_use\` block in the previous message.`,
        );
      }
    }
  });
}

/** With thinking on, the assistant turn answered by the newest tool results must open with its thinking. */
function checkThinkingBeforeToolUse(messages: readonly WireMessage[]): void {
  const turns = mergeTurns(messages);
  const lastUser = turns.findLastIndex((turn) => turn.role === 'user');
  const userTurn = turns[lastUser];
  const assistantTurn = lastUser > 0 ? turns[lastUser - 1] : undefined;
  if (!userTurn || !assistantTurn) return;
  if (!userTurn.blocks.some((located) => located.block.type === 'tool_result')) return;
  const first = assistantTurn.blocks[0];
  if (!first || first.block.type === 'thinking' || first.block.type === 'redacted_thinking') return;
  throw invalidRequest(
    `messages.${first.message}.content.${first.index}.type: Expected \`thinking\` or \`redacted_thinking\`, but found \`${first.block.type}\`. When \`thinking\` is enabled, a final \`assistant\` message must start with a thinking block (preceeding the lastmost set of \`tool_use\` and \`tool_result\` blocks). We recommend you include thinking blocks from previous turns. To avoid this requirement, disable \`thinking\`. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking`,
  );
}
