import { Code } from '@connectrpc/connect';
import type { UniversalServerResponse } from '@connectrpc/connect/protocol';
import { specEncoding } from './grpc-message.ts';

// The library answers a content type it does not speak with a bare HTTP 415, which a Connect
// client reads as `unknown` and a gRPC client as a transport failure. This answers it in the
// protocol the caller was trying to speak instead, with `unimplemented` (the server does not
// implement that encoding) and a message that says which ones it does.

const SUPPORTED = [
  'application/json',
  'application/proto',
  'application/connect+json',
  'application/connect+proto',
  'application/grpc',
  'application/grpc+proto',
  'application/grpc+json',
  'application/grpc-web',
  'application/grpc-web+proto',
  'application/grpc-web+json',
];

const MESSAGE =
  'this content type is not supported: send application/json or application/proto (Connect unary), ' +
  'application/connect+json or application/connect+proto (Connect streaming), application/grpc[+proto|+json] or application/grpc-web[+proto|+json]';

/** `response` as it is, unless it is the library's bare 415; then the error in the caller's protocol. */
export function withUnsupportedMediaType(response: UniversalServerResponse, contentType: string | null): UniversalServerResponse {
  if (response.status !== 415) return response;
  const family = (contentType ?? '').trim().toLowerCase();
  if (family.startsWith('application/grpc')) {
    // gRPC and gRPC-Web carry the status in headers (a trailers-only response), over HTTP 200.
    const web = family.startsWith('application/grpc-web');
    return {
      status: 200,
      header: new Headers({
        'content-type': web ? 'application/grpc-web+proto' : 'application/grpc+proto',
        'grpc-status': String(Code.Unimplemented),
        'grpc-message': specEncoding(encodeURIComponent(MESSAGE)),
      }),
    };
  }
  const body = new TextEncoder().encode(JSON.stringify({ code: 'unimplemented', message: MESSAGE }));
  return {
    status: 415,
    header: new Headers({ 'content-type': 'application/json', 'accept-post': SUPPORTED.join(', ') }),
    body: (async function* () {
      yield body;
    })(),
  };
}
