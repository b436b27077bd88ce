/**
 * Every `ErrorInfo.reason` the code can send is declared in `taskmaster.common.v1.ErrorReason`
 * (proto/taskmaster/common/v1/errors.proto), every declared reason is sent somewhere, and each is documented
 * with its gRPC code in errors.proto and docs/api.md ("Error reasons"). The code is scanned (error-reason-scan.test-util.ts);
 * the reasons of errors raised in spec runs are checked by the error interceptor (an undeclared reason on a
 * hand-built ConnectError answers INTERNAL, see error-interceptor.spec.ts).
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { Code } from "@connectrpc/connect";
import { ErrorReason } from "@taskmaster/proto/gen/taskmaster/common/v1/errors_pb";
import { describe, expect, it } from "vitest";
import { scanErrorReasons } from "./error-reason-scan.test-util.js";
import { SPECIFIC_INVALID_ARGUMENT } from "./errors.js";

const root = resolve(import.meta.dirname, "../../..");

/**
 * Declared reasons that no code sends yet, each with the reason why. Keep it empty: a reason nobody sends
 * is a promise the contract does not keep.
 */
const RESERVED: Readonly<Record<string, string>> = {};

interface Declared {
  readonly name: string;
  /** The gRPC code the comment names first, e.g. FAILED_PRECONDITION. */
  readonly code: string;
}

function declaredReasons(): Declared[] {
  const proto = readFileSync(join(root, "proto/taskmaster/common/v1/errors.proto"), "utf8");
  const body = proto.slice(proto.indexOf("enum ErrorReason {"));
  const out: Declared[] = [];
  let comment = "";
  for (const line of body.split("\n").slice(1)) {
    const text = line.trim();
    if (text === "}") break;
    if (text.startsWith("//")) {
      comment += `${text.slice(2).trim()} `;
      continue;
    }
    const m = /^ERROR_REASON_([A-Z0-9_]+)\s*=\s*\d+;/.exec(text);
    if (m !== null && m[1] !== "UNSPECIFIED") {
      out.push({ name: m[1] as string, code: /^([A-Z_]+):/.exec(comment)?.[1] ?? "" });
    }
    comment = "";
  }
  return out;
}

function sourceFiles(dir: string, out: Map<string, string>): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== "gen" && entry.name !== "node_modules" && entry.name !== "dist")
        sourceFiles(path, out);
    } else if (entry.name.endsWith(".ts") && !/\.(spec|test-util)\.ts$|\.d\.ts$/.test(entry.name)) {
      out.set(relative(root, path), readFileSync(path, "utf8"));
    }
  }
}

/**
 * Source files that can build an ErrorInfo: they use the domain errors or ErrorInfoSchema, or name
 * `ErrorReason` (e.g. persistence's database error answers, which cannot import rpc-kit).
 */
function errorSources(): Map<string, string> {
  const all = new Map<string, string>();
  for (const top of ["apps", "libs"]) {
    for (const pkg of readdirSync(join(root, top), { withFileTypes: true })) {
      if (pkg.isDirectory()) {
        try {
          sourceFiles(join(root, top, pkg.name, "src"), all);
        } catch {
          // a package without src/
        }
      }
    }
  }
  return new Map(
    [...all].filter(([path, text]) =>
      path === "libs/rpc-kit/src/errors.ts"
        ? true
        : /@taskmaster\/rpc-kit\/errors"|from "\.\/errors\.js"|\bErrorInfoSchema\b|\bErrorReason\b/.test(
            text,
          ),
    ),
  );
}

const declared = declaredReasons();
const declaredNames = new Set(declared.map((d) => d.name));
const files = errorSources();
const scan = scanErrorReasons(files, ["DomainError"]);

describe("ErrorInfo reasons", () => {
  it("errors.proto and the generated enum agree, and every value names its gRPC code", () => {
    const generated = Object.keys(ErrorReason).filter((k) => Number.isNaN(Number(k)) && k !== "UNSPECIFIED");
    expect(declared.map((d) => d.name).sort()).toEqual(generated.sort());
    const codes = new Set(
      Object.keys(Code)
        .filter((k) => Number.isNaN(Number(k)))
        .map((k) => k.replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase()),
    );
    expect(declared.filter((d) => !codes.has(d.code))).toEqual([]);
  });

  it("scans the files that raise errors", () => {
    expect(files.size).toBeGreaterThan(30);
    expect(files.has("apps/task-service/src/watch.handlers.ts")).toBe(true);
    expect(scan.sent.length).toBeGreaterThan(50);
  });

  it("every reason the code can send is declared in errors.proto", () => {
    expect(scan.sent.filter((f) => !declaredNames.has(f.reason))).toEqual([]);
  });

  it("every declared reason is sent somewhere", () => {
    const sent = new Set([
      ...scan.sent.map((f) => f.reason),
      ...scan.fieldViolation.map((f) => f.reason).filter((r) => SPECIFIC_INVALID_ARGUMENT.has(r)),
    ]);
    expect(declared.map((d) => d.name).filter((n) => !sent.has(n) && RESERVED[n] === undefined)).toEqual([]);
    expect(Object.keys(RESERVED).filter((n) => !declaredNames.has(n) || sent.has(n))).toEqual([]);
  });

  it("docs/api.md lists every declared reason with its gRPC code", () => {
    const page = readFileSync(join(root, "docs/api.md"), "utf8");
    const from = page.indexOf("### Error reasons");
    expect(from).toBeGreaterThan(-1);
    const next = page.indexOf("\n## ", from);
    const doc = page.slice(from, next === -1 ? undefined : next);
    const rows = new Map(
      [...doc.matchAll(/^\|\s*`([A-Z0-9_]+)`\s*\|\s*([A-Z_, ]+?)\s*\|/gm)].map((m) => [m[1], m[2]]),
    );
    expect(declared.filter((d) => !(rows.get(d.name) ?? "").split(/,\s*/).includes(d.code))).toEqual([]);
    expect([...rows.keys()].filter((n) => !declaredNames.has(n as string))).toEqual([]);
  });
});

describe("the reason scan", () => {
  const scanOne = (text: string) => scanErrorReasons(new Map([["x.ts", text]]), ["DomainError"]);

  it("finds a new reason in options, positional arguments, subclasses, helpers and hand-built ErrorInfo", () => {
    const found = scanOne(`
      class FailedPreconditionError extends DomainError {}
      class PermissionDeniedError extends DomainError {}
      class Mine extends FailedPreconditionError { constructor() { super("m", { reason: "IN_SUBCLASS" }); } }
      class Other extends PermissionDeniedError { constructor() { super("m", "IN_SUPER"); } }
      function fail(message: string, reason: ErrorReasonName) { return new Mine(); }
      throw new FailedPreconditionError("x", { reason: "SOMETHING_NEW" });
      throw new PermissionDeniedError(\`a "\${b}" c\`, "POSITIONAL");
      throw new PermissionDeniedError(kind === "COMPARED" ? "a" : "b");
      throw fail("the template is deleted", "VIA_HELPER");
      const m: Record<string, ErrorReasonName> = { a: "IN_MAP" };
      const d: ErrorReasonName = "IN_CONST";
      new ConnectError("x", Code.Aborted, undefined, [{ desc: ErrorInfoSchema, value: { reason: "HAND_BUILT" } }]);
    `);
    expect(found.sent.map((f) => f.reason).sort()).toEqual(
      [
        "HAND_BUILT",
        "IN_CONST",
        "IN_MAP",
        "IN_SUBCLASS",
        "IN_SUPER",
        "POSITIONAL",
        "SOMETHING_NEW",
        "VIA_HELPER",
      ].sort(),
    );
    expect(found.sent.find((f) => f.reason === "SOMETHING_NEW")?.at).toBe("x.ts:7");
  });

  it("keeps field violation reasons apart", () => {
    const found = scanOne(`
      class InvalidArgumentError extends DomainError {}
      throw new InvalidArgumentError([{ field: "a", description: "b", reason: "TOO_LONG" }]);
      throw new InvalidArgumentError([{ field, description: problem, reason: "MIME" }], undefined, "MIME_REJECTED");
    `);
    expect(found.fieldViolation.map((f) => f.reason)).toEqual(["TOO_LONG", "MIME"]);
    expect(found.sent.map((f) => f.reason)).toEqual(["MIME_REJECTED"]);
  });
});
