import { defineEntity, p } from '@mikro-orm/core';
import { ConversationEntity } from './conversation.ts';
import { MessageEntity } from './message.ts';

/**
 * A call of a client tool: the model asked, the caller answers with SubmitToolResult. The wait
 * is this row, not a promise in memory, so it outlives the instance that started it.
 */
export const ClientToolCallEntity = defineEntity({
  name: 'ClientToolCall',
  tableName: 'client_tool_call',
  properties: {
    // The tool use block's id, as the Messages API assigned it.
    toolUseId: p.text().primary(),
    conversation: () => p.manyToOne(ConversationEntity).deleteRule('cascade'),
    // The assistant message holding the tool use block.
    message: () => p.manyToOne(MessageEntity).deleteRule('cascade'),
    name: p.text(),
    status: p.enum(['awaiting', 'answered', 'timed_out'] as const),
    // When an unanswered call becomes an error result.
    deadline: p.datetime(),
    content: p.text().nullable(),
    isError: p.boolean().default(false),
    // The result has been added to the reply as a tool_result block.
    applied: p.boolean().default(false),
    createdAt: p.datetime().onCreate(() => new Date()),
    answeredAt: p.datetime().nullable(),
  },
  indexes: [{ name: 'client_tool_call_message_idx', properties: ['message'] }],
});
