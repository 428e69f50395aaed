import type http from 'node:http';
import http2 from 'node:http2';

type Request = http.IncomingMessage | http2.Http2ServerRequest;
type Response = http.ServerResponse | http2.Http2ServerResponse;

/**
 * The request body as the library reads it. When the library stops early (a frame over the read
 * limit, a malformed message) its for-await ends the iterator, which by default destroys the
 * request: over HTTP/1.1 that destroys the socket, often before the error response is written.
 * endUnreadBody deals with the rest once the response is out.
 */
export function requestBody(req: Request): AsyncIterable<Uint8Array> {
  return { [Symbol.asyncIterator]: (): AsyncIterator<Uint8Array> => req.iterator({ destroyOnReturn: false }) };
}

export interface DrainLimits {
  /** How much more of the body is read and discarded, at most. */
  maxBytes: number;
  /** For how long after the response, at most. */
  maxMs: number;
}

/**
 * Once the response is complete, ends what is left of a request body that nobody will read (the
 * library answered an oversized or malformed request early). A client that is still sending
 * would otherwise be left half-open: on HTTP/2 the stream stays open with the client's unsent
 * bytes counted against its session memory until it refuses every new stream on the connection;
 * on HTTP/1.1 the connection cannot carry the next request.
 *
 * The rest is first read and discarded, within `limits`, so that a client can finish sending:
 * the HTTP/1.1 connection stays usable, and the HTTP/2 client's writes complete (Node's own
 * http2 client never gives back the session memory of writes that a reset cancels, so after two
 * resets of a 4 MiB body its connection refuses every new stream). Past the limits, or when an
 * HTTP/2 client stops sending without ending its stream, the stream is reset with NO_ERROR, the
 * way RFC 9113 §8.1 asks a client to stop sending after a complete response; an HTTP/1.1
 * connection is closed.
 */
export function endUnreadBody(req: Request, res: Response, limits: DrainLimits): void {
  if ('stream' in req) {
    const { stream } = req;
    // The compatibility layer sends the trailers from its own 'wantTrailers' listener, which runs
    // first; a reset before they are out would drop the trailers, and with them the gRPC status.
    stream.once('wantTrailers', () =>
      setImmediate(() => {
        if (stream.closed || stream.destroyed || stream.state.remoteClose) return;
        drain(req, limits, () => {
          if (!stream.closed) stream.close(http2.constants.NGHTTP2_NO_ERROR);
        });
      }),
    );
    return;
  }
  res.once('finish', () => {
    // `complete`: the whole request has arrived, so nothing more is on its way.
    if (!req.complete && !req.destroyed) drain(req, limits, () => req.destroy());
  });
}

function drain(req: Request, limits: DrainLimits, stop: () => void): void {
  let drained = 0;
  const end = () => {
    clearTimeout(timer);
    req.off('data', count);
  };
  const giveUp = () => {
    end();
    stop();
  };
  const count = (chunk: Buffer) => {
    drained += chunk.byteLength;
    if (drained > limits.maxBytes) giveUp();
  };
  const timer = setTimeout(giveUp, limits.maxMs).unref();
  req.on('data', count);
  req.once('end', end);
  req.once('close', end);
  req.resume();
}
