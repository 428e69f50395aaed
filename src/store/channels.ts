// PostgreSQL NOTIFY channels, the one way instances tell each other that something changed.

/** A user message was queued or a prompt ended (payload: conversation id). */
export const QUEUE_CHANNEL = 'parley_queue';
/** Cancellation of a running prompt was requested (payload: user message id). */
export const CANCEL_CHANNEL = 'parley_cancel';
/** New events of a conversation (payload: an EventNotice). */
export const EVENTS_CHANNEL = 'parley_events';
/** A client tool call was answered (payload: the tool use id). */
export const TOOL_RESULT_CHANNEL = 'parley_tool_result';
