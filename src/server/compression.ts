import { Code, ConnectError } from '@connectrpc/connect';
import type { Compression } from '@connectrpc/connect/protocol';
import { compressionBrotli, compressionGzip } from '@connectrpc/connect-node';

/**
 * zlib's codes for compressed input that ends early or needs a preset dictionary: the client's
 * mistake, which @connectrpc/connect-node reports as `internal` ("decompression failed"). It
 * already gives corrupt input (Z_DATA_ERROR, brotli format errors) `invalid_argument`.
 */
const CLIENT_INPUT_ERRORS = new Set(['Z_BUF_ERROR', 'Z_NEED_DICT']);

function zlibCode(cause: unknown): unknown {
  return typeof cause === 'object' && cause !== null && 'code' in cause ? cause.code : undefined;
}

function withClientErrors(compression: Compression): Compression {
  return {
    name: compression.name,
    compress: (bytes) => compression.compress(bytes),
    async decompress(bytes, readMaxBytes) {
      try {
        return await compression.decompress(bytes, readMaxBytes);
      } catch (error) {
        if (error instanceof ConnectError && error.code === Code.Internal && CLIENT_INPUT_ERRORS.has(String(zlibCode(error.cause)))) {
          throw new ConnectError(`${compression.name} data is truncated or incomplete`, Code.InvalidArgument);
        }
        throw error;
      }
    },
  };
}

/** The request compressions Parley accepts (connect-node's defaults), with truncated input a client error. */
export const acceptCompression: readonly Compression[] = [withClientErrors(compressionGzip), withClientErrors(compressionBrotli)];
