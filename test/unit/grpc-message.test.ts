import { describe, expect, it } from 'vitest';
import { withSpecGrpcMessage } from '../../src/server/grpc-message.ts';

async function trailerAfterBody(message: string): Promise<string | null> {
  const trailer = new Headers({ 'grpc-status': '3' });
  const response = withSpecGrpcMessage({
    status: 200,
    body: (async function* () {
      yield new Uint8Array([0]);
      // As connect-es does when the handler fails: the status is set as the body ends.
      trailer.set('grpc-message', encodeURIComponent(message));
    })(),
    trailer,
  });
  for await (const chunk of response.body as AsyncIterable<Uint8Array>) void chunk;
  return trailer.get('grpc-message');
}

describe('grpc-message in the trailers', () => {
  it('leaves printable ASCII as it is, except %', async () => {
    expect(await trailerAfterBody('conversation_id: "x/y?z" is not a valid id; 100%')).toBe('conversation_id: "x/y?z" is not a valid id; 100%25');
  });

  it('percent-encodes every byte of UTF-8 outside printable ASCII, which decodeURI (grpc-js) reads back', async () => {
    const message = 'title: “naïve” ☕\ttab, 𝄞';
    const encoded = await trailerAfterBody(message);
    expect(encoded).toMatch(/^[\x20-\x7e]*$/);
    expect(decodeURI(encoded!)).toBe(message);
    expect(decodeURIComponent(encoded!)).toBe(message);
  });

  it('leaves a response without trailers alone', () => {
    const response = { status: 200, body: (async function* () {})() };
    expect(withSpecGrpcMessage(response)).toBe(response);
  });
});
