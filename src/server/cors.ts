import type { IncomingHttpHeaders } from 'node:http';
import { cors } from '@connectrpc/connect';
import type { Logger } from '../logger.ts';

export interface CorsDecision {
  /** Headers to add to the response; empty when the origin is not allowed. */
  headers: Record<string, string>;
  /** A preflight request, answered without reaching the RPC handler. */
  preflight: boolean;
}

/**
 * CORS for browser clients (Connect-Web, gRPC-Web), limited to the configured origins. A refused
 * origin is logged: a browser app that cannot read its answers says only "network error".
 */
export function corsFor(allowedOrigins: readonly string[], logger: Logger) {
  const anyOrigin = allowedOrigins.includes('*');
  const allowed = new Set(allowedOrigins);
  return (method: string | undefined, headers: IncomingHttpHeaders): CorsDecision => {
    const origin = headers.origin;
    const preflight = method === 'OPTIONS' && headers['access-control-request-method'] !== undefined;
    if (!origin) return { headers: {}, preflight };
    if (!(anyOrigin || allowed.has(origin))) {
      logger.warn('CORS: origin not allowed; add it to CORS_ORIGINS if it is yours', { origin: origin.slice(0, 200), preflight });
      return { headers: {}, preflight };
    }
    const common = { 'access-control-allow-origin': origin, vary: 'Origin' };
    if (!preflight) {
      return { headers: { ...common, 'access-control-expose-headers': [...cors.exposedHeaders, 'X-Request-Id'].join(', ') }, preflight };
    }
    return {
      preflight,
      headers: {
        ...common,
        'access-control-allow-methods': cors.allowedMethods.join(', '),
        // Authorization: browsers send their bearer token (JWT or key) as a header, never a cookie.
        'access-control-allow-headers': [...cors.allowedHeaders, 'Authorization', 'Parley-Subject', 'X-Request-Id'].join(', '),
        'access-control-max-age': '7200',
      },
    };
  };
}
