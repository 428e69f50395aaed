import type { Interceptor } from '@connectrpc/connect';
import type { Authenticator } from '../engine/identity/authenticator.ts';
import { ownerKey } from './owner.ts';

/**
 * Authenticates every call, Subscribe included, from `authorization: Bearer <token>` (gRPC
 * metadata and HTTP headers alike) and makes the principal's tenant the owner the handlers act
 * for. A call that fails here reaches no handler.
 */
export function authInterceptor(authenticator: Authenticator): Interceptor {
  return (next) => async (request) => {
    const principal = await authenticator.authenticate(request.header.get('authorization'));
    request.contextValues.set(ownerKey, principal.tenantId);
    return next(request);
  };
}
