import { fromBinary, toBinary } from '@bufbuild/protobuf';
import type { ServiceImpl } from '@connectrpc/connect';
import {
  ServerReflection as ServerReflectionV1,
  ServerReflectionRequestSchema as RequestV1,
  ServerReflectionResponseSchema as ResponseV1,
  type ServerReflectionRequest,
} from '../../gen/grpc/reflection/v1/reflection_pb.ts';
import {
  ServerReflection as ServerReflectionV1alpha,
  ServerReflectionRequestSchema as RequestV1alpha,
  ServerReflectionResponseSchema as ResponseV1alpha,
  type ServerReflectionResponse as ResponseV1alphaMessage,
} from '../../gen/grpc/reflection/v1alpha/reflection_pb.ts';
import { reflect, type ReflectionIndex } from './reflection.ts';

/**
 * grpc.reflection.v1: what `buf curl`, grpcurl and Postman ask for a server's methods and
 * schema, so they need no proto files. Each stream remembers the files it has carried.
 */
export function reflectionServiceV1(index: ReflectionIndex): ServiceImpl<typeof ServerReflectionV1> {
  return {
    async *serverReflectionInfo(requests) {
      const sent = new Set<string>();
      for await (const request of requests) yield reflect(index, request, sent);
    },
  };
}

/**
 * grpc.reflection.v1alpha, which older grpcurl and most tools still try first. Its messages are
 * v1's field for field, so each is read and answered as v1 through the wire format.
 */
export function reflectionServiceV1alpha(index: ReflectionIndex): ServiceImpl<typeof ServerReflectionV1alpha> {
  return {
    async *serverReflectionInfo(requests) {
      const sent = new Set<string>();
      for await (const request of requests) {
        const asV1: ServerReflectionRequest = fromBinary(RequestV1, toBinary(RequestV1alpha, request));
        const answer: ResponseV1alphaMessage = fromBinary(ResponseV1alpha, toBinary(ResponseV1, reflect(index, asV1, sent)));
        yield answer;
      }
    },
  };
}

export { ServerReflectionV1, ServerReflectionV1alpha };
