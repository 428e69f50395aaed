import { ApiKeyEntity } from './api-key.ts';
import { BlockEntity } from './block.ts';
import { ClientToolCallEntity } from './client-tool-call.ts';
import { ConversationEntity } from './conversation.ts';
import { EventEntity } from './event.ts';
import { MessageEntity } from './message.ts';
import { UsageRecordEntity } from './usage-record.ts';

export { ApiKeyEntity, BlockEntity, ClientToolCallEntity, ConversationEntity, EventEntity, MessageEntity, UsageRecordEntity };
export const entities = [ConversationEntity, MessageEntity, BlockEntity, EventEntity, ClientToolCallEntity, ApiKeyEntity, UsageRecordEntity];
