// The browser-safe client of Parley's Subscribe stream: only @bufbuild/protobuf, @connectrpc/connect
// and the generated code, so it runs over connect-web as well as connect-node.
export { ConversationState } from './conversation-state.ts';
export {
  toGetConversationResponse,
  type ApplyOutcome,
  type ConversationView,
  type ToolCallStatus,
  type ToolCallView,
} from './conversation-view.ts';
export { reduceConversation, type Reduction } from './reduce-conversation.ts';
export { StreamProtocolError } from './protocol-error.ts';
export { exponentialBackoff, isRetryableCode, type Backoff } from './retry-policy.ts';
export {
  subscribeConversation,
  type ConversationSubscription,
  type ConversationUpdate,
  type RetryInfo,
  type SubscribeClient,
  type SubscribeOptions,
} from './subscribe.ts';
