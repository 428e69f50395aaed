import { createContextKey, type HandlerContext } from '@connectrpc/connect';

/**
 * The owner (tenant) a request acts for, set by the authenticating interceptor (auth.ts) from
 * verified credentials before any handler runs. The default is never read by a served call.
 */
export const ownerKey = createContextKey<string>('default', { description: 'owner (tenant) of the request' });

export function ownerOf(context: HandlerContext): string {
  return context.values.get(ownerKey);
}
