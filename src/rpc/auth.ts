import type { Interceptor } from '@connectrpc/connect';
import type { Authenticator } from '../engine/identity/authenticator.ts';
import { ownerKey } from './owner.ts';

/**
 * Authenticates every call, Subscribe included, from `authorization: Bearer <token>` (gRPC
 * metadata and HTTP headers alike) and makes its owner (tenant, and subject for a JWT or a key
 * sent with `parley-subject`) the one the handlers act for. A call that fails here reaches no handler.
 */
export function authInterceptor(authenticator: Authenticator): Interceptor {
  return (next) => async (request) => {
    const owner = await authenticator.authenticate(request.header.get('authorization'), request.header.get('parley-subject'));
    request.contextValues.set(ownerKey, owner);
    return next(request);
  };
}
