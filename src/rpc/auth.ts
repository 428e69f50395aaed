import type { Interceptor } from '@connectrpc/connect';
import { Health } from '../../gen/grpc/health/v1/health_pb.ts';
import type { Authenticator } from '../engine/identity/authenticator.ts';
import { ownerKey } from './owner.ts';

/**
 * Authenticates every call, Subscribe included, from `authorization: Bearer <token>` (gRPC
 * metadata and HTTP headers alike) and makes its owner (tenant, and subject for a JWT or a key
 * sent with `parley-subject`) the one the handlers act for. A call that fails here reaches no handler.
 *
 * The health service is the exception, as /healthz is: load balancers and Kubernetes' gRPC
 * probes carry no credentials, and it tells nothing about any tenant.
 */
export function authInterceptor(authenticator: Authenticator): Interceptor {
  return (next) => async (request) => {
    if (request.service.typeName === Health.typeName) return next(request);
    const owner = await authenticator.authenticate(request.header.get('authorization'), request.header.get('parley-subject'));
    request.contextValues.set(ownerKey, owner);
    return next(request);
  };
}
