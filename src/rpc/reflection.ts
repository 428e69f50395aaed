import { create, toBinary, type DescFile, type DescMessage, type DescService, type MessageInitShape } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import { Code } from '@connectrpc/connect';
import {
  ServerReflectionResponseSchema,
  type ServerReflectionRequest,
  type ServerReflectionResponse,
} from '../../gen/grpc/reflection/v1/reflection_pb.ts';

/**
 * What server reflection knows: the files of the services served and every file they import,
 * indexed by file name and by each fully-qualified name they define (types, services, methods,
 * fields, enum values, extensions), as protoregistry resolves a symbol in grpc-go.
 */
export interface ReflectionIndex {
  readonly services: readonly string[];
  readonly files: ReadonlyMap<string, DescFile>;
  readonly symbols: ReadonlyMap<string, DescFile>;
  readonly messages: ReadonlyMap<string, DescMessage>;
  readonly extensions: ReadonlyMap<string, Map<number, DescFile>>;
}

export function reflectionIndex(services: readonly DescService[]): ReflectionIndex {
  const files = new Map<string, DescFile>();
  const symbols = new Map<string, DescFile>();
  const messages = new Map<string, DescMessage>();
  const extensions = new Map<string, Map<number, DescFile>>();
  const addMessage = (file: DescFile, message: DescMessage) => {
    symbols.set(message.typeName, file);
    messages.set(message.typeName, message);
    for (const field of message.fields) symbols.set(`${message.typeName}.${field.name}`, file);
    for (const oneof of message.oneofs) symbols.set(`${message.typeName}.${oneof.name}`, file);
    for (const nested of message.nestedMessages) addMessage(file, nested);
    for (const nested of message.nestedEnums) addEnum(file, nested);
    for (const extension of message.nestedExtensions) addExtension(file, extension);
  };
  const addEnum = (file: DescFile, descEnum: DescFile['enums'][number]) => {
    symbols.set(descEnum.typeName, file);
    // Enum values are scoped like their enum's siblings, as in C++.
    const scope = descEnum.typeName.slice(0, Math.max(0, descEnum.typeName.lastIndexOf('.')));
    for (const value of descEnum.values) symbols.set(scope ? `${scope}.${value.name}` : value.name, file);
  };
  const addExtension = (file: DescFile, extension: DescFile['extensions'][number]) => {
    symbols.set(extension.typeName, file);
    const numbers = extensions.get(extension.extendee.typeName) ?? new Map<number, DescFile>();
    numbers.set(extension.number, file);
    extensions.set(extension.extendee.typeName, numbers);
  };
  const addFile = (file: DescFile) => {
    if (files.has(file.proto.name)) return;
    files.set(file.proto.name, file);
    for (const dependency of file.dependencies) addFile(dependency);
    for (const message of file.messages) addMessage(file, message);
    for (const descEnum of file.enums) addEnum(file, descEnum);
    for (const extension of file.extensions) addExtension(file, extension);
    for (const service of file.services) {
      symbols.set(service.typeName, file);
      for (const method of service.methods) symbols.set(`${service.typeName}.${method.name}`, file);
    }
  };
  for (const service of services) addFile(service.file);
  return { services: services.map((service) => service.typeName), files, symbols, messages, extensions };
}

/**
 * The answer to one reflection request. `sent` holds the files this stream has already carried:
 * as grpc-go does, the file asked for always comes, its imports only the first time.
 */
export function reflect(index: ReflectionIndex, request: ServerReflectionRequest, sent: Set<string>): ServerReflectionResponse {
  const answer = (messageResponse: MessageInitShape<typeof ServerReflectionResponseSchema>['messageResponse']) =>
    create(ServerReflectionResponseSchema, { validHost: request.host, originalRequest: request, messageResponse });
  const notFound = (what: string) => answer({ case: 'errorResponse', value: { errorCode: Code.NotFound, errorMessage: `${what} not found` } });
  const filesFrom = (file: DescFile) => answer({ case: 'fileDescriptorResponse', value: { fileDescriptorProto: withImports(file, sent) } });

  const asked = request.messageRequest;
  switch (asked.case) {
    case 'fileByFilename': {
      const file = index.files.get(asked.value);
      return file ? filesFrom(file) : notFound(`file ${JSON.stringify(asked.value)}`);
    }
    case 'fileContainingSymbol': {
      const file = index.symbols.get(asked.value.replace(/^\./, ''));
      return file ? filesFrom(file) : notFound(`symbol ${JSON.stringify(asked.value)}`);
    }
    case 'fileContainingExtension': {
      const file = index.extensions.get(asked.value.containingType)?.get(asked.value.extensionNumber);
      return file ? filesFrom(file) : notFound(`extension ${asked.value.extensionNumber} of ${JSON.stringify(asked.value.containingType)}`);
    }
    case 'allExtensionNumbersOfType': {
      if (!index.messages.has(asked.value)) return notFound(`type ${JSON.stringify(asked.value)}`);
      const numbers = [...(index.extensions.get(asked.value)?.keys() ?? [])].sort((a, b) => a - b);
      return answer({ case: 'allExtensionNumbersResponse', value: { baseTypeName: asked.value, extensionNumber: numbers } });
    }
    case 'listServices':
      return answer({ case: 'listServicesResponse', value: { service: index.services.map((name) => ({ name })) } });
    case undefined:
      return answer({ case: 'errorResponse', value: { errorCode: Code.InvalidArgument, errorMessage: 'the request asks nothing: set one of its message_request fields' } });
  }
}

/** The file, then (breadth first) each import this stream has not carried yet. */
function withImports(file: DescFile, sent: Set<string>): Uint8Array[] {
  const out: Uint8Array[] = [];
  const queue = [file];
  const visited = new Set<string>();
  for (let next = queue.shift(); next; next = queue.shift()) {
    if (visited.has(next.proto.name)) continue;
    visited.add(next.proto.name);
    if (out.length === 0 || !sent.has(next.proto.name)) {
      sent.add(next.proto.name);
      out.push(toBinary(FileDescriptorProtoSchema, next.proto));
    }
    queue.push(...next.dependencies);
  }
  return out;
}
