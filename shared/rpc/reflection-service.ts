import { create, toBinary, type DescExtension, type DescFile, type DescMessage, type DescService } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import { Code, type ConnectRouter } from '@connectrpc/connect';
import * as v1 from '../gen/grpc/reflection/v1/reflection_pb';
import * as v1alpha from '../gen/grpc/reflection/v1alpha/reflection_pb';

/** The request oneof shared by reflection v1 and v1alpha (same wire shape, different type names). */
type ReflectionQuery =
  | { case: 'fileByFilename' | 'fileContainingSymbol' | 'allExtensionNumbersOfType' | 'listServices'; value: string }
  | { case: 'fileContainingExtension'; value: { containingType: string; extensionNumber: number } }
  | { case: undefined; value?: undefined };

type ReflectionAnswer =
  | { case: 'fileDescriptorResponse'; value: { fileDescriptorProto: Uint8Array[] } }
  | { case: 'allExtensionNumbersResponse'; value: { baseTypeName: string; extensionNumber: number[] } }
  | { case: 'listServicesResponse'; value: { service: { name: string }[] } }
  | { case: 'errorResponse'; value: { errorCode: number; errorMessage: string } };

interface ReflectionIndex {
  services: string[];
  /** Keyed by the .proto file name (DescFile.name lacks the ".proto" suffix clients ask for). */
  files: Map<string, DescFile>;
  symbols: Map<string, DescFile>;
  extensions: DescExtension[];
}

function buildIndex(services: Iterable<DescService>): ReflectionIndex {
  const index: ReflectionIndex = { services: [], files: new Map(), symbols: new Map(), extensions: [] };
  const addMessage = (message: DescMessage): void => {
    index.symbols.set(message.typeName, message.file);
    for (const nested of message.nestedMessages) addMessage(nested);
    for (const nested of message.nestedEnums) index.symbols.set(nested.typeName, message.file);
    for (const extension of message.nestedExtensions) addExtension(extension);
  };
  const addExtension = (extension: DescExtension): void => {
    index.symbols.set(extension.typeName, extension.file);
    index.extensions.push(extension);
  };
  // Clients resolve every type a method mentions, so imported files (well-known types included) must be indexed too.
  const addFile = (file: DescFile): void => {
    if (index.files.has(file.proto.name)) return;
    index.files.set(file.proto.name, file);
    for (const message of file.messages) addMessage(message);
    for (const enumDesc of file.enums) index.symbols.set(enumDesc.typeName, file);
    for (const extension of file.extensions) addExtension(extension);
    for (const service of file.services) {
      index.symbols.set(service.typeName, file);
      for (const method of service.methods) index.symbols.set(`${service.typeName}.${method.name}`, file);
    }
    for (const dependency of file.dependencies) addFile(dependency);
  };
  for (const service of services) {
    if (!index.services.includes(service.typeName)) index.services.push(service.typeName);
    addFile(service.file);
  }
  return index;
}

const notFound = (errorMessage: string): ReflectionAnswer => ({
  case: 'errorResponse',
  value: { errorCode: Code.NotFound, errorMessage },
});

/** The file itself always, then its transitive dependencies that this stream has not sent yet. */
function fileResponse(file: DescFile, sent: Set<string>): ReflectionAnswer {
  const files = [file];
  const visit = (dependency: DescFile): void => {
    if (sent.has(dependency.proto.name) || files.includes(dependency)) return;
    files.push(dependency);
    dependency.dependencies.forEach(visit);
  };
  file.dependencies.forEach(visit);
  for (const f of files) sent.add(f.proto.name);
  return {
    case: 'fileDescriptorResponse',
    value: { fileDescriptorProto: files.map((f) => toBinary(FileDescriptorProtoSchema, f.proto)) },
  };
}

function answer(index: ReflectionIndex, query: ReflectionQuery, sent: Set<string>): ReflectionAnswer {
  switch (query.case) {
    case 'listServices':
      return { case: 'listServicesResponse', value: { service: index.services.map((name) => ({ name })) } };
    case 'fileByFilename': {
      const file = index.files.get(query.value);
      return file ? fileResponse(file, sent) : notFound(`file "${query.value}" not found`);
    }
    case 'fileContainingSymbol': {
      const file = index.symbols.get(query.value.replace(/^\./, ''));
      return file ? fileResponse(file, sent) : notFound(`symbol "${query.value}" not found`);
    }
    case 'fileContainingExtension': {
      const { containingType, extensionNumber } = query.value;
      const extension = index.extensions.find((e) => e.extendee.typeName === containingType && e.number === extensionNumber);
      return extension
        ? fileResponse(extension.file, sent)
        : notFound(`extension ${extensionNumber} of "${containingType}" not found`);
    }
    case 'allExtensionNumbersOfType': {
      if (!index.symbols.has(query.value)) return notFound(`type "${query.value}" not found`);
      const extensionNumber = index.extensions.filter((e) => e.extendee.typeName === query.value).map((e) => e.number);
      return { case: 'allExtensionNumbersResponse', value: { baseTypeName: query.value, extensionNumber } };
    }
    case undefined:
      return { case: 'errorResponse', value: { errorCode: Code.InvalidArgument, errorMessage: 'empty request' } };
  }
}

/**
 * Adds grpc.reflection v1 and v1alpha (clients still probe either) to a router. The index is built from
 * `router.handlers` on the first request, so it covers every service registered on the router, wherever
 * in the routes callback this is called.
 */
export function registerReflection(router: ConnectRouter): void {
  let index: ReflectionIndex | undefined;
  const getIndex = (): ReflectionIndex => (index ??= buildIndex(router.handlers.map((h) => h.service)));

  router.service(v1.ServerReflection, {
    async *serverReflectionInfo(requests) {
      const sent = new Set<string>();
      for await (const req of requests) {
        const messageResponse = answer(getIndex(), req.messageRequest, sent);
        yield create(v1.ServerReflectionResponseSchema, { validHost: req.host, originalRequest: req, messageResponse });
      }
    },
  });
  router.service(v1alpha.ServerReflection, {
    async *serverReflectionInfo(requests) {
      const sent = new Set<string>();
      for await (const req of requests) {
        const messageResponse = answer(getIndex(), req.messageRequest, sent);
        yield create(v1alpha.ServerReflectionResponseSchema, { validHost: req.host, originalRequest: req, messageResponse });
      }
    },
  });
}
