import type { UniversalServerResponse } from '@connectrpc/connect/protocol';

/**
 * The gRPC spec percent-encodes `grpc-message` only where it must: every byte outside printable
 * ASCII, and `%`. connect-es encodes with encodeURIComponent, which also encodes `:`, `;`, `,`,
 * `/`, `?` and more; grpc-js decodes with decodeURI, which leaves exactly those encoded, so a
 * grpc-js caller read "conversation_id%3A …". Re-encoded to the spec's minimum, the message reads
 * the same in every client.
 */
export function withSpecGrpcMessage(response: UniversalServerResponse): UniversalServerResponse {
  const { trailer, body } = response;
  if (!trailer || !body) return response;
  return {
    ...response,
    // The status goes into the trailers as the body ends, before the adapter writes them.
    body: (async function* () {
      try {
        yield* body;
      } finally {
        const message = trailer.get('grpc-message');
        if (message !== null) trailer.set('grpc-message', specEncoding(message));
      }
    })(),
  };
}

/** A grpc-message value encoded by encodeURIComponent, re-encoded to the spec's minimum. */
export function specEncoding(encoded: string): string {
  let text: string;
  try {
    text = decodeURIComponent(encoded);
  } catch {
    return encoded;
  }
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}
