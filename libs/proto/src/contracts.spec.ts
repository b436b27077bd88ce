import { execFileSync } from "node:child_process";
import { join } from "node:path";
import type { DescEnum, DescFile, DescService } from "@bufbuild/protobuf";
import { fromBinary } from "@bufbuild/protobuf";
import type { DescriptorProto, EnumDescriptorProto, FileDescriptorProto } from "@bufbuild/protobuf/wkt";
import { FileDescriptorSetSchema, MethodOptions_IdempotencyLevel } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { AuditActionSchema } from "./gen/taskmaster/audit/v1/audit_pb.js";
import {
  AuditService,
  file_taskmaster_audit_v1_audit_service,
} from "./gen/taskmaster/audit/v1/audit_service_pb.js";
import { file_taskmaster_common_v1_errors } from "./gen/taskmaster/common/v1/errors_pb.js";
import {
  file_taskmaster_monitoring_v1_monitoring_service,
  MonitoringService,
} from "./gen/taskmaster/monitoring/v1/monitoring_service_pb.js";
import { CommentTypeSchema } from "./gen/taskmaster/task/v1/collaboration_pb.js";
import { RelationshipTypeSchema } from "./gen/taskmaster/task/v1/relationship_pb.js";
import {
  TaskComplexitySchema,
  TaskPrioritySchema,
  TaskStatusSchema,
  TaskTypeSchema,
} from "./gen/taskmaster/task/v1/task_pb.js";
import {
  file_taskmaster_task_v1_task_service,
  TaskService,
} from "./gen/taskmaster/task/v1/task_service_pb.js";
import {
  TemplateDependencyTypeSchema,
  TemplatePermissionLevelSchema,
  TemplateReviewStatusSchema,
  TemplateReviewTypeSchema,
} from "./gen/taskmaster/template/v1/collaboration_pb.js";
import {
  BuiltinTemplateTypeSchema,
  TemplateChangeTypeSchema,
} from "./gen/taskmaster/template/v1/template_pb.js";
import {
  file_taskmaster_template_v1_template_service,
  TemplateService,
} from "./gen/taskmaster/template/v1/template_service_pb.js";

const repoRoot = join(import.meta.dirname, "../../..");
const services: DescService[] = [TaskService, TemplateService, MonitoringService, AuditService];

/** Every file of our packages reachable from the service files (transitively). */
function ourFiles(): DescFile[] {
  const seen = new Map<string, DescFile>();
  const visit = (f: DescFile) => {
    if (seen.has(f.name) || !f.name.startsWith("taskmaster/")) return;
    seen.set(f.name, f);
    for (const dep of f.dependencies) visit(dep);
  };
  for (const f of [
    file_taskmaster_task_v1_task_service,
    file_taskmaster_template_v1_template_service,
    file_taskmaster_monitoring_v1_monitoring_service,
    file_taskmaster_audit_v1_audit_service,
    file_taskmaster_common_v1_errors,
  ]) {
    visit(f);
  }
  return [...seen.values()];
}

function allEnums(file: DescFile): DescEnum[] {
  const out: DescEnum[] = [...file.enums];
  const walk = (nested: readonly { nestedEnums: DescEnum[]; nestedMessages: readonly unknown[] }[]) => {
    for (const m of nested) {
      out.push(...m.nestedEnums);
      walk(m.nestedMessages as typeof nested);
    }
  };
  walk(file.messages);
  return out;
}

// Verbs of RPCs that must not change state (marked NO_SIDE_EFFECTS so the audit test of issue 8 and
// Connect GET support can rely on the descriptor).
const READ_VERBS = /^(Get|List|BatchGet|Search|Lookup|Watch|Download|Diff|Export|Next|Summarize)/;

describe("service contracts", () => {
  it("every RPC has its own XxxRequest/XxxResponse messages", () => {
    const inputs = new Set<string>();
    for (const service of services) {
      for (const method of service.methods) {
        expect(method.input.name, `${service.typeName}.${method.name}`).toBe(`${method.name}Request`);
        expect(method.output.name, `${service.typeName}.${method.name}`).toBe(`${method.name}Response`);
        expect(inputs.has(method.input.typeName), method.input.typeName).toBe(false);
        inputs.add(method.input.typeName);
      }
    }
    expect(inputs.size).toBeGreaterThan(100);
  });

  it("read-only RPCs, and only those, are marked NO_SIDE_EFFECTS", () => {
    for (const service of services) {
      for (const method of service.methods) {
        const readOnly = method.idempotency === MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS;
        expect(readOnly, `${service.typeName}.${method.name}`).toBe(READ_VERBS.test(method.name));
      }
    }
  });

  it("every enum starts with *_UNSPECIFIED = 0", () => {
    const files = ourFiles();
    expect(files.length).toBeGreaterThan(10);
    for (const file of files) {
      for (const e of allEnums(file)) {
        const first = e.values[0];
        expect(first?.number, e.typeName).toBe(0);
        expect(first?.name, e.typeName).toMatch(/_UNSPECIFIED$/);
      }
    }
  });

  it("covers the upstream value sets", () => {
    const expected: [DescEnum, number][] = [
      [TaskStatusSchema, 11],
      [TaskPrioritySchema, 5],
      [TaskComplexitySchema, 5],
      [TaskTypeSchema, 14],
      [RelationshipTypeSchema, 12],
      [CommentTypeSchema, 9],
      [BuiltinTemplateTypeSchema, 9],
      [TemplateChangeTypeSchema, 4],
      [TemplateDependencyTypeSchema, 4],
      [TemplatePermissionLevelSchema, 5],
      [TemplateReviewTypeSchema, 4],
      [TemplateReviewStatusSchema, 4],
      [AuditActionSchema, 6],
    ];
    for (const [e, count] of expected) {
      expect(e.values.length - 1, e.typeName).toBe(count);
    }
  });
});

describe("documentation", () => {
  it("every message, field, oneof, enum, enum value, service and RPC has a leading comment", () => {
    // protobuf-es strips source info from embedded descriptors, so build an image with it.
    execFileSync("node", [join(repoRoot, "tools/proto/sync-deps.mjs")], { cwd: repoRoot, stdio: "ignore" });
    const bin = execFileSync(
      join(repoRoot, "node_modules/.bin/buf"),
      ["build", "proto", "-o", "-#format=binpb"],
      {
        cwd: repoRoot,
        maxBuffer: 64 * 1024 * 1024,
      },
    );
    const set = fromBinary(FileDescriptorSetSchema, new Uint8Array(bin));
    const missing: string[] = [];
    let checked = 0;
    for (const file of set.file.filter((f) => f.name.startsWith("taskmaster/"))) {
      const comments = new Map<string, string>();
      for (const loc of file.sourceCodeInfo?.location ?? []) {
        comments.set(loc.path.join("."), loc.leadingComments.trim());
      }
      const need = (path: number[], what: string) => {
        checked++;
        if (!comments.get(path.join("."))) missing.push(`${file.name}: ${what}`);
      };
      walkFile(file, need);
    }
    expect(missing).toEqual([]);
    expect(checked).toBeGreaterThan(1000);
  });
});

function walkFile(file: FileDescriptorProto, need: (path: number[], what: string) => void): void {
  const walkEnum = (e: EnumDescriptorProto, path: number[], scope: string) => {
    need(path, `enum ${scope}${e.name}`);
    e.value.forEach((v, i) => {
      need([...path, 2, i], `enum value ${v.name}`);
    });
  };
  const walkMessage = (m: DescriptorProto, path: number[], scope: string) => {
    const name = `${scope}${m.name}`;
    need(path, `message ${name}`);
    m.field.forEach((f, i) => {
      need([...path, 2, i], `field ${name}.${f.name}`);
    });
    m.oneofDecl.forEach((o, i) => {
      // proto3 `optional` fields create synthetic oneofs starting with "_"; they carry no comment.
      if (!o.name.startsWith("_")) need([...path, 8, i], `oneof ${name}.${o.name}`);
    });
    m.nestedType.forEach((n, i) => {
      walkMessage(n, [...path, 3, i], `${name}.`);
    });
    m.enumType.forEach((e, i) => {
      walkEnum(e, [...path, 4, i], `${name}.`);
    });
  };
  file.messageType.forEach((m, i) => {
    walkMessage(m, [4, i], "");
  });
  file.enumType.forEach((e, i) => {
    walkEnum(e, [5, i], "");
  });
  file.service.forEach((s, i) => {
    need([6, i], `service ${s.name}`);
    s.method.forEach((m, j) => {
      need([6, i, 2, j], `rpc ${s.name}.${m.name}`);
    });
  });
}
