import { createContextKey, type HandlerContext } from '@connectrpc/connect';
import type { Owner } from '../domain/records.ts';

/**
 * The owner (tenant) a request acts for, set by the authenticating interceptor (auth.ts) from
 * verified credentials before any handler runs. The default is never read by a served call.
 */
export const ownerKey = createContextKey<Owner>({ tenantId: 'default', subjectId: null }, { description: 'owner (tenant, subject) of the request' });

export function ownerOf(context: HandlerContext): Owner {
  return context.values.get(ownerKey);
}
