/**
 * Server reflection (grpc.reflection.v1 and v1alpha) so `grpcurl list` / `describe` work. Uses
 * @grpc/reflection's ReflectionService, fed with a package definition synthesized from the protobuf-es file
 * descriptors (each file's FileDescriptorProto, dependencies included transitively).
 */
import { type DescFile, type DescService, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import type { Server } from "@grpc/grpc-js";
import { ReflectionService } from "@grpc/reflection";

/** One entry per file, shaped like @grpc/proto-loader's ProtobufTypeDefinition (what ReflectionService reads). */
export interface ReflectionPackageEntry {
  readonly format: string;
  readonly type: object;
  readonly fileDescriptorProtos: Buffer[];
}

/** Every file the services are declared in, plus their dependencies, transitively (dependencies first). */
export function collectFiles(services: readonly DescService[]): DescFile[] {
  const seen = new Set<string>();
  const out: DescFile[] = [];
  const visit = (file: DescFile) => {
    if (seen.has(file.proto.name)) return;
    seen.add(file.proto.name);
    for (const dep of file.dependencies) visit(dep);
    out.push(file);
  };
  for (const s of services) visit(s.file);
  return out;
}

/** The package definition ReflectionService expects, built from protobuf-es descriptors. */
export function reflectionPackageDefinition(
  services: readonly DescService[],
): Record<string, ReflectionPackageEntry> {
  const pkg: Record<string, ReflectionPackageEntry> = {};
  for (const file of collectFiles(services)) {
    const bytes = toBinary(FileDescriptorProtoSchema, file.proto);
    pkg[`file:${file.proto.name}`] = {
      format: "Protocol Buffer 3 FileDescriptorProto",
      type: {},
      fileDescriptorProtos: [Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)],
    };
  }
  return pkg;
}

/** Register reflection v1 + v1alpha for exactly these services on a grpc-js server. */
export function addReflection(server: Pick<Server, "addService">, services: readonly DescService[]): void {
  const pkg = reflectionPackageDefinition(services);
  const reflection = new ReflectionService(
    pkg as unknown as ConstructorParameters<typeof ReflectionService>[0],
    {
      services: services.map((s) => s.typeName),
    },
  );
  reflection.addToServer(server);
}
