// gRPC server reflection, v1 and v1alpha: `buf curl` lists and calls every method with no
// schema; the files it serves describe the whole service; unknown names get the protocol's
// error response on a stream that stays usable.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { create, createFileRegistry, fromBinary, type DescService } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema, FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError, createClient, type Transport } from '@connectrpc/connect';
import { createConnectTransport, createGrpcTransport } from '@connectrpc/connect-node';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServerReflection as V1, type ServerReflectionRequest, type ServerReflectionResponse } from '../../gen/grpc/reflection/v1/reflection_pb.ts';
import { ServerReflection as V1alpha } from '../../gen/grpc/reflection/v1alpha/reflection_pb.ts';
import { ConversationService } from '../../gen/parley/v1/conversation_service_pb.ts';
import { startTestApp, type TestApp } from '../support/app.ts';

const run = promisify(execFile);
const BUF = path.resolve('node_modules/.bin/buf');

let server: TestApp;

beforeAll(async () => {
  server = await startTestApp({ PARLEY_AUTH_CACHE_MS: '0' });
});

afterAll(async () => {
  await server?.close();
});

type Ask = ServerReflectionRequest['messageRequest'];

/** Every request on one stream, in order; the answers as they came. */
async function reflectOn(service: typeof V1 | typeof V1alpha, transport: Transport, asks: Ask[], token?: string): Promise<ServerReflectionResponse[]> {
  const client = createClient(service as typeof V1, transport);
  async function* requests() {
    for (const messageRequest of asks) yield { host: '', messageRequest };
  }
  const answers: ServerReflectionResponse[] = [];
  const headers = token ? { authorization: `Bearer ${token}` } : undefined;
  for await (const answer of client.serverReflectionInfo(requests(), { headers })) answers.push(answer);
  return answers;
}

function fileNames(answer: ServerReflectionResponse): string[] {
  if (answer.messageResponse.case !== 'fileDescriptorResponse') throw new Error(`not files: ${answer.messageResponse.case}`);
  return answer.messageResponse.value.fileDescriptorProto.map((bytes) => fromBinary(FileDescriptorProtoSchema, bytes).name);
}

const TRANSPORTS = {
  'connect-node/grpc': () => createGrpcTransport({ baseUrl: server.baseUrl }),
  // Bidirectional streams need HTTP/2 over Connect (and gRPC-Web has none at all).
  'connect-node/connect (HTTP/2)': () => createConnectTransport({ baseUrl: server.baseUrl, httpVersion: '2' }),
};

describe('server reflection', () => {
  it('lets buf curl list every method, health and reflection included, and call one, with no schema', async () => {
    const listed = await run(BUF, ['curl', '--protocol', 'grpc', '--http2-prior-knowledge', '--list-methods', server.baseUrl]);
    const expected = [
      ...ConversationService.methods.map((m) => `${ConversationService.typeName}/${m.name}`),
      'grpc.health.v1.Health/Check',
      'grpc.health.v1.Health/List',
      'grpc.health.v1.Health/Watch',
      'grpc.reflection.v1.ServerReflection/ServerReflectionInfo',
      'grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo',
    ].sort();
    expect(listed.stdout.trim().split('\n').sort()).toEqual(expected);

    const created = await run(BUF, ['curl', '--protocol', 'grpc', '--http2-prior-knowledge', '-d', '{"title":"described by reflection"}', `${server.baseUrl}/parley.v1.ConversationService/CreateConversation`]);
    expect(JSON.parse(created.stdout)).toMatchObject({ conversation: { title: 'described by reflection' } });
  });

  for (const [version, service] of [['v1', V1], ['v1alpha', V1alpha]] as const) {
    for (const [name, transport] of Object.entries(TRANSPORTS)) {
      it(`answers ${version} over ${name}: services, files that build the whole schema, the protocol's errors on a stream that goes on`, async () => {
        const answers = await reflectOn(service, transport(), [
          { case: 'listServices', value: '' },
          { case: 'fileContainingSymbol', value: ConversationService.typeName },
          { case: 'fileContainingSymbol', value: 'parley.v1.No.Such.Thing' },
          // Asked again on the same stream: the file only, its imports were sent.
          { case: 'fileContainingSymbol', value: `${ConversationService.typeName}.SendMessage` },
          { case: 'fileByFilename', value: 'google/protobuf/timestamp.proto' },
          { case: 'fileByFilename', value: 'nope.proto' },
          { case: 'allExtensionNumbersOfType', value: 'parley.v1.SendMessageRequest' },
          { case: undefined },
        ]);
        expect(answers.map((a) => a.messageResponse.case)).toEqual([
          'listServicesResponse',
          'fileDescriptorResponse',
          'errorResponse',
          'fileDescriptorResponse',
          'fileDescriptorResponse',
          'errorResponse',
          'allExtensionNumbersResponse',
          'errorResponse',
        ]);
        const services = answers[0]!.messageResponse.value as { service: Array<{ name: string }> };
        expect(services.service.map((s) => s.name).sort()).toEqual(
          ['grpc.health.v1.Health', 'grpc.reflection.v1.ServerReflection', 'grpc.reflection.v1alpha.ServerReflection', 'parley.v1.ConversationService'],
        );

        // The files of the first answer are a complete schema: every method, every type.
        const first = answers[1]!.messageResponse.value as { fileDescriptorProto: Uint8Array[] };
        const protos = first.fileDescriptorProto.map((bytes) => fromBinary(FileDescriptorProtoSchema, bytes));
        // The asked-for file comes first and its imports after, as grpc-go sends them; a
        // registry wants each file after its imports.
        const ordered: typeof protos = [];
        const place = (name: string) => {
          if (ordered.some((p) => p.name === name)) return;
          const file = protos.find((p) => p.name === name);
          if (!file) throw new Error(`${name} was not sent`);
          for (const dependency of file.dependency) place(dependency);
          ordered.push(file);
        };
        place(protos[0]!.name);
        expect(ordered.length).toBe(protos.length);
        const registry = createFileRegistry(create(FileDescriptorSetSchema, { file: ordered }));
        const described = registry.getService(ConversationService.typeName) as DescService;
        expect(described.methods.map((m) => [m.name, m.input.typeName, m.output.typeName, m.methodKind])).toEqual(
          ConversationService.methods.map((m) => [m.name, m.input.typeName, m.output.typeName, m.methodKind]),
        );
        expect(fileNames(answers[1]!)[0]).toBe('parley/v1/conversation_service.proto');
        expect(fileNames(answers[1]!).length).toBeGreaterThan(1);
        expect(fileNames(answers[3]!)).toEqual(['parley/v1/conversation_service.proto']);
        expect(fileNames(answers[4]!)).toEqual(['google/protobuf/timestamp.proto']);

        expect(answers[2]!.messageResponse.value).toMatchObject({ errorCode: Code.NotFound, errorMessage: 'symbol "parley.v1.No.Such.Thing" not found' });
        expect(answers[5]!.messageResponse.value).toMatchObject({ errorCode: Code.NotFound, errorMessage: 'file "nope.proto" not found' });
        expect(answers[6]!.messageResponse.value).toMatchObject({ baseTypeName: 'parley.v1.SendMessageRequest', extensionNumber: [] });
        expect(answers[7]!.messageResponse.value).toMatchObject({ errorCode: Code.InvalidArgument });
        expect(answers[2]!.originalRequest?.messageRequest).toEqual({ case: 'fileContainingSymbol', value: 'parley.v1.No.Such.Thing' });
      });
    }
  }

  it('answers grpc-js with proto-loader on the v1alpha file, as grpcurl asks', async () => {
    const definition = protoLoader.loadSync('grpc/reflection/v1alpha/reflection.proto', { includeDirs: [path.resolve('proto')], oneofs: true });
    const loaded = grpc.loadPackageDefinition(definition) as unknown as {
      grpc: { reflection: { v1alpha: { ServerReflection: grpc.ServiceClientConstructor } } };
    };
    const client = new loaded.grpc.reflection.v1alpha.ServerReflection(new URL(server.baseUrl).host, grpc.credentials.createInsecure()) as unknown as {
      serverReflectionInfo(): grpc.ClientDuplexStream<unknown, { listServicesResponse?: { service: Array<{ name: string }> } }>;
      close(): void;
    };
    try {
      const call = client.serverReflectionInfo();
      const answer = await new Promise<{ listServicesResponse?: { service: Array<{ name: string }> } }>((resolve, reject) => {
        call.on('data', resolve);
        call.on('error', reject);
        call.write({ listServices: '' });
      });
      call.end();
      expect(answer.listServicesResponse?.service.map((s) => s.name)).toContain(ConversationService.typeName);
    } finally {
      client.close();
    }
  });

  it('needs the same credentials as every other call once an API key exists', async () => {
    const { key } = await server.app.stores.apiKeys.create('acme');
    const refused = await reflectOn(V1, TRANSPORTS['connect-node/grpc'](), [{ case: 'listServices', value: '' }]).catch((error: unknown) => ConnectError.from(error));
    expect(refused).toMatchObject({ code: Code.Unauthenticated });
    const answered = await reflectOn(V1, TRANSPORTS['connect-node/grpc'](), [{ case: 'listServices', value: '' }], key);
    expect(answered.map((a) => a.messageResponse.case)).toEqual(['listServicesResponse']);
  });
});
