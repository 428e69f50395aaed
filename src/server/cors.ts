import type { IncomingHttpHeaders } from 'node:http';
import { cors } from '@connectrpc/connect';

export interface CorsDecision {
  /** Headers to add to the response; empty when the origin is not allowed. */
  headers: Record<string, string>;
  /** A preflight request, answered without reaching the RPC handler. */
  preflight: boolean;
}

/** CORS for browser clients (Connect-Web, gRPC-Web), limited to the configured origins. */
export function corsFor(allowedOrigins: readonly string[]) {
  const anyOrigin = allowedOrigins.includes('*');
  const allowed = new Set(allowedOrigins);
  return (method: string | undefined, headers: IncomingHttpHeaders): CorsDecision => {
    const origin = headers.origin;
    const preflight = method === 'OPTIONS' && headers['access-control-request-method'] !== undefined;
    if (!origin || !(anyOrigin || allowed.has(origin))) return { headers: {}, preflight };
    const common = { 'access-control-allow-origin': origin, vary: 'Origin' };
    if (!preflight) {
      return { headers: { ...common, 'access-control-expose-headers': cors.exposedHeaders.join(', ') }, preflight };
    }
    return {
      preflight,
      headers: {
        ...common,
        'access-control-allow-methods': cors.allowedMethods.join(', '),
        // Authorization: browsers send their bearer token (JWT or key) as a header, never a cookie.
        'access-control-allow-headers': [...cors.allowedHeaders, 'Authorization', 'Parley-Subject'].join(', '),
        'access-control-max-age': '7200',
      },
    };
  };
}
