import { BlockEntity } from './block.ts';
import { ConversationEntity } from './conversation.ts';
import { MessageEntity } from './message.ts';

export { BlockEntity, ConversationEntity, MessageEntity };
export const entities = [ConversationEntity, MessageEntity, BlockEntity];
