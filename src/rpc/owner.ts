import { createContextKey, type HandlerContext } from '@connectrpc/connect';

/**
 * The owner (tenant) a request acts for. Today every caller is the one default owner; an
 * authenticating interceptor will set this key from verified credentials, and nothing below
 * the RPC layer changes.
 */
export const ownerKey = createContextKey<string>('default', { description: 'owner (tenant) of the request' });

export function ownerOf(context: HandlerContext): string {
  return context.values.get(ownerKey);
}
