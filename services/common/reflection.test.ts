import { create, fromBinary, createFileRegistry, type MessageInitShape } from "@bufbuild/protobuf";
import { type FileDescriptorProto, FileDescriptorProtoSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { createClient, createRouterTransport } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { WorkerService } from "../../gen/claudecluster/v1/worker_pb.js";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import {
  ServerReflection,
  type ServerReflectionRequestSchema,
  type ServerReflectionResponse,
} from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as ServerReflectionV1alpha } from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { reflectionRoutes } from "./reflection.js";

type Req = MessageInitShape<typeof ServerReflectionRequestSchema>;

const transport = createRouterTransport(reflectionRoutes([WorkerService, Health]));

/** Sends every request on one stream, as a reflection client does, and returns the answers in order. */
async function ask(...requests: Req[]): Promise<ServerReflectionResponse[]> {
  async function* send() {
    yield* requests;
  }
  const out: ServerReflectionResponse[] = [];
  for await (const res of createClient(ServerReflection, transport).serverReflectionInfo(send())) out.push(res);
  return out;
}

async function askOne(req: Req): Promise<ServerReflectionResponse> {
  return (await ask(req))[0]!;
}

/** The names of the files in a file_descriptor_response, in order. */
function fileNames(res: ServerReflectionResponse): string[] {
  if (res.messageResponse.case !== "fileDescriptorResponse") throw new Error(`expected files, got ${res.messageResponse.case}`);
  return res.messageResponse.value.fileDescriptorProto.map((b) => fromBinary(FileDescriptorProtoSchema, b).name);
}

function errorOf(res: ServerReflectionResponse) {
  if (res.messageResponse.case !== "errorResponse") throw new Error(`expected an error, got ${res.messageResponse.case}`);
  return res.messageResponse.value;
}

const WORKER_FILES = [
  "claudecluster/v1/worker.proto",
  "claudecluster/v1/environment.proto",
  "google/protobuf/timestamp.proto",
  "claudecluster/v1/permissions.proto",
  "claudecluster/v1/run.proto",
  "google/protobuf/duration.proto",
  "claudecluster/v1/transfer.proto",
];

describe("server reflection", () => {
  it("lists the services given plus the reflection services", async () => {
    const res = await askOne({ host: "h", messageRequest: { case: "listServices", value: "*" } });
    expect(res.validHost).toBe("h");
    expect(res.originalRequest?.messageRequest).toEqual({ case: "listServices", value: "*" });
    expect(res.messageResponse.case === "listServicesResponse" && res.messageResponse.value.service.map((s) => s.name)).toEqual([
      "claudecluster.v1.WorkerService",
      "grpc.health.v1.Health",
      "grpc.reflection.v1.ServerReflection",
      "grpc.reflection.v1alpha.ServerReflection",
    ]);
  });

  it("answers a service with its file first, then every file it imports, transitively", async () => {
    const res = await askOne({ messageRequest: { case: "fileContainingSymbol", value: "claudecluster.v1.WorkerService" } });
    expect(fileNames(res)).toEqual(WORKER_FILES);
  });

  it("the files are enough to rebuild the schema: a client needs nothing else", async () => {
    const res = await askOne({ messageRequest: { case: "fileContainingSymbol", value: "claudecluster.v1.WorkerService" } });
    if (res.messageResponse.case !== "fileDescriptorResponse") throw new Error("expected files");
    // Reflection sends the asked file first, then its imports in no promised order; protobuf-es wants a descriptor
    // set in which every file comes after its imports (as protoc writes it), so sort them that way.
    const byName = new Map(res.messageResponse.value.fileDescriptorProto.map((b) => fromBinary(FileDescriptorProtoSchema, b)).map((f) => [f.name, f]));
    const file: FileDescriptorProto[] = [];
    const visit = (name: string): void => {
      const f = byName.get(name);
      if (!f || file.includes(f)) return;
      f.dependency.forEach(visit);
      file.push(f);
    };
    byName.forEach((_, name) => visit(name));
    const registry = createFileRegistry(create(FileDescriptorSetSchema, { file }));
    const run = registry.getService("claudecluster.v1.WorkerService")?.methods.find((m) => m.name === "Run");
    expect(run?.methodKind).toBe("server_streaming");
    expect(run?.output.typeName).toBe("claudecluster.v1.RunEvent");
    expect(registry.getMessage("claudecluster.v1.RunRequest")?.field["prompt"]?.jsonName).toBe("prompt");
  });

  it("finds methods, messages, fields, enums, enum values and nested types", async () => {
    const symbols: [string, string][] = [
      ["claudecluster.v1.WorkerService.Run", "claudecluster/v1/worker.proto"],
      ["claudecluster.v1.RunRequest", "claudecluster/v1/run.proto"],
      ["claudecluster.v1.RunRequest.prompt", "claudecluster/v1/run.proto"],
      ["claudecluster.v1.RunMode", "claudecluster/v1/run.proto"],
      ["claudecluster.v1.RUN_MODE_HEADLESS", "claudecluster/v1/run.proto"],
      ["grpc.health.v1.HealthCheckResponse.ServingStatus", "grpc/health/v1/health.proto"],
      ["grpc.health.v1.HealthCheckResponse.SERVING", "grpc/health/v1/health.proto"],
      ["google.protobuf.Timestamp", "google/protobuf/timestamp.proto"],
      ["grpc.reflection.v1alpha.ServerReflection", "grpc/reflection/v1alpha/reflection.proto"],
    ];
    const answers = await ask(...symbols.map(([value]) => ({ messageRequest: { case: "fileContainingSymbol" as const, value } })));
    expect(answers.map((res) => fileNames(res)[0])).toEqual(symbols.map(([, file]) => file));
  });

  it("finds files by name, dependencies included", async () => {
    const [health, timestamp] = await ask(
      { messageRequest: { case: "fileByFilename", value: "grpc/health/v1/health.proto" } },
      { messageRequest: { case: "fileByFilename", value: "google/protobuf/timestamp.proto" } },
    );
    expect(fileNames(health!)).toEqual(["grpc/health/v1/health.proto"]);
    expect(fileNames(timestamp!)).toEqual(["google/protobuf/timestamp.proto"]);
  });

  it("answers what it does not know with NOT_FOUND and keeps the stream going", async () => {
    const answers = await ask(
      { messageRequest: { case: "fileContainingSymbol", value: "claudecluster.v1.Nope" } },
      { messageRequest: { case: "fileByFilename", value: "nope.proto" } },
      { messageRequest: { case: "fileContainingExtension", value: { containingType: "claudecluster.v1.RunRequest", extensionNumber: 100 } } },
      { messageRequest: { case: "allExtensionNumbersOfType", value: "claudecluster.v1.Nope" } },
      { messageRequest: { case: "listServices", value: "" } },
    );
    expect(answers.slice(0, 4).map(errorOf)).toEqual([
      expect.objectContaining({ errorCode: 5, errorMessage: "symbol claudecluster.v1.Nope not found" }),
      expect.objectContaining({ errorCode: 5, errorMessage: "file nope.proto not found" }),
      expect.objectContaining({ errorCode: 5, errorMessage: "extension 100 of claudecluster.v1.RunRequest not found" }),
      expect.objectContaining({ errorCode: 5, errorMessage: "type claudecluster.v1.Nope not found" }),
    ]);
    expect(answers[4]?.messageResponse.case).toBe("listServicesResponse");
  });

  it("a known message has no extension numbers", async () => {
    const res = await askOne({ messageRequest: { case: "allExtensionNumbersOfType", value: "claudecluster.v1.RunRequest" } });
    expect(res.messageResponse.case === "allExtensionNumbersResponse" && res.messageResponse.value).toMatchObject({
      baseTypeName: "claudecluster.v1.RunRequest",
      extensionNumber: [],
    });
  });

  it("an empty request is INVALID_ARGUMENT", async () => {
    expect(errorOf(await askOne({}))).toMatchObject({ errorCode: 3, errorMessage: "set one of the message_request fields" });
  });

  it("v1alpha answers the same as v1", async () => {
    async function* send() {
      yield { messageRequest: { case: "listServices" as const, value: "" } };
      yield { messageRequest: { case: "fileContainingSymbol" as const, value: "claudecluster.v1.WorkerService" } };
    }
    const out = [];
    for await (const res of createClient(ServerReflectionV1alpha, transport).serverReflectionInfo(send())) out.push(res);
    expect(out[0]?.messageResponse.case === "listServicesResponse" && out[0].messageResponse.value.service).toHaveLength(4);
    const files = out[1]?.messageResponse.case === "fileDescriptorResponse" ? out[1].messageResponse.value.fileDescriptorProto : [];
    expect(files.map((b) => fromBinary(FileDescriptorProtoSchema, b).name)).toEqual(WORKER_FILES);
    expect(out[1]?.originalRequest?.messageRequest.case).toBe("fileContainingSymbol");
  });
});
