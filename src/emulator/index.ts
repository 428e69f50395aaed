export { AnthropicEmulator, type AnthropicEmulatorOptions, type EmulatorPromptCacheOptions, type PingOptions } from './server.ts';
export { rulesFor, type Effort, type ModelRules } from './model-rules.ts';
export { DEFAULT_CONTEXT_TOKENS } from './context-window.ts';
export { CLEARED_TOOL_RESULT, type AppliedEdit } from './context-editing.ts';
export { CONTEXT_MANAGEMENT_BETA } from './context-management.ts';
export { startOfflineModel, type OfflineModelServer, type OfflineModelServerOptions } from './offline-server.ts';
export {
  continuesAssistantTurn,
  DEFAULT_OFFLINE_TOKENS_PER_SECOND,
  OFFLINE_LABEL,
  offlineReply,
  type OfflineModelOptions,
} from './offline-model.ts';
export {
  dropAfter,
  errorEventAfter,
  overloaded,
  pausedTurn,
  rateLimited,
  refusalTurn,
  serverError,
  stallAfter,
  textTurn,
  toolUseTurn,
} from './script.ts';
export { estimateInputTokens, splitIntoTokens } from './tokens.ts';
export type {
  ApiErrorType,
  HttpErrorTurn,
  Interruption,
  MessagesRequest,
  RecordedRequest,
  RefusalCategory,
  RefusalDetails,
  ReplyBlock,
  ReplyTurn,
  Responder,
  ServerToolName,
  StopReason,
  Turn,
  WebSearchResult,
  WebSearchToolResultContent,
  WebSearchToolResultError,
  WebSearchToolResultErrorCode,
  WireBlock,
  WireMessage,
  WireTool,
} from './types.ts';
