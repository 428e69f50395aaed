/**
 * The transport ceiling: a bare connect-node server (HTTP/2 cleartext, as Parley serves gRPC)
 * implementing only Subscribe, which streams N BlockDelta events of one size as fast as the
 * stream takes them. No database, no hub, no engine: what is left is connect-node, protobuf-es
 * and node:http2.
 */
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { create } from '@bufbuild/protobuf';
import { ConnectError, Code, type ConnectRouter } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import { ConversationService, SubscribeResponseSchema } from '../../gen/parley/v1/conversation_service_pb.ts';
import { announceReady, serveParent } from '../lib/ipc.ts';

const MESSAGE_ID = '0190f0e8-9d3b-7c6a-8f21-4a5b6c7d8e9f';

const routes = (router: ConnectRouter) =>
  router.service(ConversationService, {
    // conversation_id carries the request: "n=<count> text=<delta text>"
    async *subscribe(request) {
      const match = /^n=(\d+) text=(.*)$/s.exec(request.conversationId);
      if (!match) throw new ConnectError('conversation_id must be "n=<count> text=<text>"', Code.InvalidArgument);
      const count = Number(match[1]);
      const text = match[2]!;
      for (let i = 1; i <= count; i++) {
        yield create(SubscribeResponseSchema, {
          seq: BigInt(i),
          event: { case: 'blockDelta', value: { messageId: MESSAGE_ID, index: 0, delta: { case: 'text', value: text } } },
        });
      }
    },
  });

const server = http2.createServer(connectNodeAdapter({ routes }));
const sessions = new Set<http2.ServerHttp2Session>();
server.on('session', (session) => {
  sessions.add(session);
  session.on('close', () => sessions.delete(session));
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const { port } = server.address() as AddressInfo;

serveParent({}, () =>
  new Promise<void>((resolve) => {
    server.close(() => resolve());
    for (const session of sessions) session.destroy();
  }),
);
announceReady({ port });
