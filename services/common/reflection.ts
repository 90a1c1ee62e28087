// gRPC server reflection (grpc.reflection.v1 and the older v1alpha that some clients still ask first), so buf curl,
// grpcurl and Postman can list services and call them without a copy of our .proto files. The answers come from the
// descriptors protoc-gen-es embeds in gen/: every file a service needs, down to google/protobuf/*.proto, is already
// there. (Embedded descriptors carry no comments: clients see names and types, not the .proto documentation.)
import { create, fromBinary, toBinary, type DescFile, type DescService, type MessageInitShape } from "@bufbuild/protobuf";
import { nestedTypes } from "@bufbuild/protobuf/reflect";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code, type ConnectRouter } from "@connectrpc/connect";
import {
  ServerReflection,
  ServerReflectionRequestSchema,
  ServerReflectionResponseSchema,
  type ServerReflectionRequest,
  type ServerReflectionResponse,
} from "../../gen/grpc/reflection/v1/reflection_pb.js";
import {
  ServerReflection as ServerReflectionV1alpha,
  ServerReflectionRequestSchema as RequestV1alphaSchema,
  ServerReflectionResponseSchema as ResponseV1alphaSchema,
} from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";

/** Every file the services need, and every symbol they declare, indexed once at start. */
export class DescriptorCatalog {
  readonly services: readonly string[];
  private readonly files = new Map<string, DescFile>();
  /** Fully-qualified name (services, methods, messages, fields, enums, enum values, extensions) → declaring file. */
  private readonly symbols = new Map<string, DescFile>();
  private readonly messages = new Set<string>();
  private readonly encoded = new Map<DescFile, Uint8Array>();

  constructor(services: readonly DescService[]) {
    this.services = services.map((s) => s.typeName);
    for (const service of services) this.add(service.file);
  }

  fileByName(name: string): DescFile | undefined {
    return this.files.get(name);
  }

  fileContainingSymbol(symbol: string): DescFile | undefined {
    return this.symbols.get(symbol);
  }

  fileContainingExtension(extendee: string, number: number): DescFile | undefined {
    for (const file of this.files.values()) {
      for (const type of nestedTypes(file)) {
        if (type.kind === "extension" && type.extendee.typeName === extendee && type.number === number) return file;
      }
    }
    return undefined;
  }

  /** undefined when `typeName` is no message we know; else the field numbers of its extensions (usually none). */
  extensionNumbers(typeName: string): number[] | undefined {
    if (!this.messages.has(typeName)) return undefined;
    const numbers: number[] = [];
    for (const file of this.files.values()) {
      for (const type of nestedTypes(file)) if (type.kind === "extension" && type.extendee.typeName === typeName) numbers.push(type.number);
    }
    return numbers;
  }

  /**
   * The serialized FileDescriptorProto of `file` first, then those of all it imports, transitively: a client can
   * build the whole schema from one answer. (The protocol allows leaving out files sent earlier in the stream; we
   * always send all of them, which is a few kilobytes and spares us per-stream state.)
   */
  withDependencies(file: DescFile): Uint8Array[] {
    const out: DescFile[] = [];
    const visit = (f: DescFile) => {
      if (out.includes(f)) return;
      out.push(f);
      f.dependencies.forEach(visit);
    };
    visit(file);
    return out.map((f) => this.encode(f));
  }

  private encode(file: DescFile): Uint8Array {
    let bytes = this.encoded.get(file);
    if (!bytes) {
      bytes = toBinary(FileDescriptorProtoSchema, file.proto);
      this.encoded.set(file, bytes);
    }
    return bytes;
  }

  private add(file: DescFile): void {
    const name = `${file.name}.proto`;
    if (this.files.has(name)) return;
    this.files.set(name, file);
    for (const type of nestedTypes(file)) {
      this.symbols.set(type.typeName, file);
      if (type.kind === "service") for (const method of type.methods) this.symbols.set(`${type.typeName}.${method.name}`, file);
      if (type.kind === "message") {
        this.messages.add(type.typeName);
        for (const field of type.fields) this.symbols.set(`${type.typeName}.${field.name}`, file);
      }
      if (type.kind === "enum") {
        // Enum values are scoped like C++ enumerators: siblings of the enum, not children.
        const scope = type.typeName.slice(0, type.typeName.lastIndexOf(".") + 1);
        for (const value of type.values) this.symbols.set(scope + value.name, file);
      }
    }
    file.dependencies.forEach((dep) => this.add(dep));
  }
}

type ResponseBody = NonNullable<MessageInitShape<typeof ServerReflectionResponseSchema>["messageResponse"]>;

/** One request, one response; failures are answered in error_response and the stream goes on, as the protocol says. */
export function answerReflection(catalog: DescriptorCatalog, req: ServerReflectionRequest): ServerReflectionResponse {
  return create(ServerReflectionResponseSchema, { validHost: req.host, originalRequest: req, messageResponse: respond(catalog, req) });
}

function respond(catalog: DescriptorCatalog, req: ServerReflectionRequest): ResponseBody {
  const error = (code: Code, message: string): ResponseBody => ({ case: "errorResponse", value: { errorCode: code, errorMessage: message } });
  const files = (file: DescFile | undefined, what: string): ResponseBody =>
    file ? { case: "fileDescriptorResponse", value: { fileDescriptorProto: catalog.withDependencies(file) } } : error(Code.NotFound, `${what} not found`);
  const r = req.messageRequest;
  switch (r.case) {
    case "listServices":
      return { case: "listServicesResponse", value: { service: catalog.services.map((name) => ({ name })) } };
    case "fileByFilename":
      return files(catalog.fileByName(r.value), `file ${r.value}`);
    case "fileContainingSymbol":
      return files(catalog.fileContainingSymbol(r.value), `symbol ${r.value}`);
    case "fileContainingExtension":
      return files(
        catalog.fileContainingExtension(r.value.containingType, r.value.extensionNumber),
        `extension ${r.value.extensionNumber} of ${r.value.containingType}`,
      );
    case "allExtensionNumbersOfType": {
      const numbers = catalog.extensionNumbers(r.value);
      if (!numbers) return error(Code.NotFound, `type ${r.value} not found`);
      return { case: "allExtensionNumbersResponse", value: { baseTypeName: r.value, extensionNumber: numbers } };
    }
    default:
      return error(Code.InvalidArgument, "set one of the message_request fields");
  }
}

/**
 * Mounts reflection v1 and v1alpha answering for `services` plus the two reflection services themselves. Pass every
 * other service the server mounts (ours and grpc.health.v1.Health), so list_services shows what is really there.
 */
export function reflectionRoutes(services: readonly DescService[]): (router: ConnectRouter) => void {
  const catalog = new DescriptorCatalog([...services, ServerReflection, ServerReflectionV1alpha]);
  return (router) => {
    router.service(ServerReflection, {
      async *serverReflectionInfo(requests) {
        for await (const req of requests) yield answerReflection(catalog, req);
      },
    });
    // v1alpha has the same messages, field for field, under another package: same wire format, so we convert
    // through bytes and answer with the v1 code.
    router.service(ServerReflectionV1alpha, {
      async *serverReflectionInfo(requests) {
        for await (const req of requests) {
          const v1 = fromBinary(ServerReflectionRequestSchema, toBinary(RequestV1alphaSchema, req));
          yield fromBinary(ResponseV1alphaSchema, toBinary(ServerReflectionResponseSchema, answerReflection(catalog, v1)));
        }
      },
    });
  };
}
