import { ApiKeyEntity } from './api-key.ts';
import { BlockEntity } from './block.ts';
import { ClientToolCallEntity } from './client-tool-call.ts';
import { CompactionEntity } from './compaction.ts';
import { ConversationEntity } from './conversation.ts';
import { EventEntity } from './event.ts';
import { MessageEntity } from './message.ts';
import { RateWindowEntity } from './rate-window.ts';
import { ServerSecretEntity } from './server-secret.ts';
import { TenantPolicyEntity } from './tenant-policy.ts';
import { UsageRecordEntity } from './usage-record.ts';

export { ApiKeyEntity, BlockEntity, ClientToolCallEntity, CompactionEntity, ConversationEntity, EventEntity, MessageEntity, RateWindowEntity, ServerSecretEntity, TenantPolicyEntity, UsageRecordEntity };
export const entities = [ConversationEntity, MessageEntity, BlockEntity, EventEntity, ClientToolCallEntity, ApiKeyEntity, UsageRecordEntity, TenantPolicyEntity, RateWindowEntity, ServerSecretEntity, CompactionEntity];
