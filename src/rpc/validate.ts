// Input checks at the RPC edge. Each failure is INVALID_ARGUMENT and names the field, so a
// caller can fix the request without reading the server's logs.
import { Code, ConnectError } from '@connectrpc/connect';
import type { ConversationSettings as ProtoSettings } from '../../gen/parley/v1/conversation_pb.ts';
import { isUuid } from '../domain/ids.ts';
import { contextPolicyFromProto } from './context-settings.ts';
import { thinkingFromProto } from './thinking-settings.ts';
import type { ClientToolDefinition, ConversationSettings } from '../domain/records.ts';

const LIMITS = {
  titleLength: 200,
  modelLength: 100,
  systemPromptLength: 100_000,
  maxTokens: 128_000,
  minThinkingBudget: 1024,
  toolNameLength: 64,
  toolDescriptionLength: 4096,
  toolsPerConversation: 64,
  requestIdLength: 128,
  pageSizeDefault: 20,
  pageSizeMax: 100,
} as const;

export function invalid(field: string, problem: string): ConnectError {
  return new ConnectError(`${field}: ${problem}`, Code.InvalidArgument);
}

/**
 * Text PostgreSQL and every client can store: no NUL characters and no unpaired surrogates
 * (protobuf's string decoding lets both through).
 */
function checkText(field: string, value: string): string {
  if (value.includes('\u0000')) throw invalid(field, 'must not contain NUL characters');
  if (!value.isWellFormed()) throw invalid(field, 'must be valid Unicode (it has an unpaired surrogate)');
  return value;
}

/** checkText over every key and string of a JSON value. */
function checkJson(field: string, value: unknown): void {
  if (typeof value === 'string') checkText(field, value);
  else if (Array.isArray(value)) value.forEach((item, i) => checkJson(`${field}[${i}]`, item));
  else if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      checkText(`${field} key`, key);
      checkJson(`${field}.${key}`, item);
    }
  }
}

export function requireId(field: string, value: string): string {
  if (value === '') throw invalid(field, 'is required');
  if (!isUuid(value)) throw invalid(field, `"${truncate(value)}" is not a valid id (expected a UUID)`);
  // RFC 9562 reads hex digits in either case; ids are stored and compared in lower case.
  return value.toLowerCase();
}

export function requireTitle(field: string, value: string): string {
  const title = checkText(field, value).trim();
  if (title === '') throw invalid(field, 'must not be empty');
  if ([...title].length > LIMITS.titleLength) throw invalid(field, `must be at most ${LIMITS.titleLength} characters`);
  return title;
}

/** `maxChars` is the operator's PARLEY_MAX_MESSAGE_CHARS, counted in UTF-16 units. */
export function requireMessageText(field: string, value: string, maxChars: number): string {
  checkText(field, value);
  if (value.trim() === '') throw invalid(field, 'must not be empty');
  if (value.length > maxChars) throw invalid(field, `must be at most ${maxChars} characters`);
  return value;
}

/** The optional idempotency key: null when not given. */
export function requireRequestId(field: string, value: string): string | null {
  if (value === '') return null;
  if (value.length > LIMITS.requestIdLength || !/^[\x21-\x7e]+$/.test(value)) {
    throw invalid(field, `must be at most ${LIMITS.requestIdLength} printable ASCII characters without spaces`);
  }
  return value;
}

export function requireToolUseId(field: string, value: string): string {
  if (value === '') throw invalid(field, 'is required');
  if (value.length > 128 || !/^[a-zA-Z0-9_-]+$/.test(value)) throw invalid(field, `"${truncate(value)}" is not a tool use id`);
  return value;
}

/** A tool result goes into the history like a user message, so it has the same bound. */
export function requireToolResult(field: string, value: string, maxChars: number): string {
  checkText(field, value);
  if (value.length > maxChars) throw invalid(field, `must be at most ${maxChars} characters`);
  return value;
}

export function pageSize(value: number): number {
  if (value === 0) return LIMITS.pageSizeDefault;
  if (value > LIMITS.pageSizeMax) throw invalid('page_size', `must be from 1 to ${LIMITS.pageSizeMax} (or 0 for ${LIMITS.pageSizeDefault})`);
  return value;
}

const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._:@-]*$/;
const TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/;

export interface SettingsContext {
  defaultModel: string;
  defaultMaxTokens: number;
  /** Whether a server-side tool of this name exists. */
  isKnownTool: (name: string) => boolean;
  /** The context window of the models this instance talks to. */
  contextWindowTokens: number;
}

/** Checks settings as a whole and fills in the server's defaults. */
export function settingsFromProto(field: string, input: ProtoSettings | undefined, server: SettingsContext): ConversationSettings {
  const model = input?.model.trim() || server.defaultModel;
  if (model.length > LIMITS.modelLength || !MODEL_NAME.test(model)) {
    throw invalid(`${field}.model`, `"${truncate(model)}" is not a model name`);
  }
  const systemPrompt = checkText(`${field}.system_prompt`, input?.systemPrompt ?? '');
  if (systemPrompt.length > LIMITS.systemPromptLength) {
    throw invalid(`${field}.system_prompt`, `must be at most ${LIMITS.systemPromptLength} characters`);
  }
  const maxTokens = input?.maxTokens || server.defaultMaxTokens;
  if (maxTokens > LIMITS.maxTokens) throw invalid(`${field}.max_tokens`, `must be at most ${LIMITS.maxTokens}`);

  const thinkingBudgetTokens = input?.thinkingBudgetTokens ?? 0;
  if (thinkingBudgetTokens !== 0) {
    if (thinkingBudgetTokens < LIMITS.minThinkingBudget) {
      throw invalid(`${field}.thinking_budget_tokens`, `must be 0 (off) or at least ${LIMITS.minThinkingBudget}`);
    }
    if (thinkingBudgetTokens >= maxTokens) {
      throw invalid(`${field}.thinking_budget_tokens`, `must be less than max_tokens (${maxTokens})`);
    }
  }

  const names = new Set<string>();
  const claim = (path: string, name: string) => {
    if (!TOOL_NAME.test(name)) throw invalid(path, `"${truncate(name)}" must be 1 to 64 characters of letters, digits, _ and -`);
    if (names.has(name)) throw invalid(path, `tool "${name}" is named twice`);
    names.add(name);
  };
  const enabledTools = input?.enabledTools ?? [];
  enabledTools.forEach((name, i) => {
    claim(`${field}.enabled_tools[${i}]`, name);
    if (!server.isKnownTool(name)) throw invalid(`${field}.enabled_tools[${i}]`, `no server tool is named "${truncate(name)}"`);
  });
  const clientTools: ClientToolDefinition[] = (input?.clientTools ?? []).map((tool, i) => {
    const path = `${field}.client_tools[${i}]`;
    claim(`${path}.name`, tool.name);
    checkText(`${path}.description`, tool.description);
    if (tool.description.length > LIMITS.toolDescriptionLength) {
      throw invalid(`${path}.description`, `must be at most ${LIMITS.toolDescriptionLength} characters`);
    }
    const schema = tool.inputSchema ?? { type: 'object', properties: {} };
    checkJson(`${path}.input_schema`, schema);
    if (schema.type !== 'object') throw invalid(`${path}.input_schema`, 'must be a JSON Schema with "type": "object"');
    return { name: tool.name, description: tool.description, inputSchema: schema };
  });
  if (names.size > LIMITS.toolsPerConversation) {
    throw invalid(`${field}`, `at most ${LIMITS.toolsPerConversation} tools per conversation`);
  }
  const context = contextPolicyFromProto(`${field}.context_management`, input?.contextManagement, { windowTokens: server.contextWindowTokens, maxTokens });
  const thinking = thinkingFromProto(field, input?.thinking, { model, thinkingBudgetTokens });
  return { model, systemPrompt, maxTokens, thinkingBudgetTokens, enabledTools, clientTools, context, thinking };
}

/** For quoting a value in a message: short, and never cutting a character in half. */
function truncate(value: string): string {
  const chars = Array.from(value.toWellFormed());
  return chars.length > 40 ? `${chars.slice(0, 40).join('')}…` : chars.join('');
}
