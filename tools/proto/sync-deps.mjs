#!/usr/bin/env node
// Copies the third-party .proto files our contracts import from npm packages into the git-ignored
// `.proto-deps/` buf module. No network, no BSR: run after `npm ci`. The google/protobuf well-known types
// are built into buf and are not copied.
import { cpSync, existsSync, mkdirSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const depsDir = join(repoRoot, ".proto-deps");

/** [npm package, path inside the package, import path under .proto-deps] */
const FILES = [
  ["google-proto-files", "google/api/field_behavior.proto", "google/api/field_behavior.proto"],
  ["google-proto-files", "google/api/resource.proto", "google/api/resource.proto"],
  ["google-proto-files", "google/rpc/code.proto", "google/rpc/code.proto"],
  ["google-proto-files", "google/rpc/status.proto", "google/rpc/status.proto"],
  ["google-proto-files", "google/rpc/error_details.proto", "google/rpc/error_details.proto"],
  ["google-proto-files", "google/type/date.proto", "google/type/date.proto"],
  ["google-proto-files", "google/type/interval.proto", "google/type/interval.proto"],
  ["grpc-health-check", "proto/health/v1/health.proto", "grpc/health/v1/health.proto"],
];

/** Finds an installed npm package directory by walking up node_modules from the given start dirs. */
function findPackage(name) {
  const starts = [join(repoRoot, "libs/proto"), repoRoot];
  for (const start of starts) {
    let dir = start;
    for (;;) {
      const candidate = join(dir, "node_modules", name);
      if (existsSync(join(candidate, "package.json"))) return candidate;
      const parent = dirname(dir);
      if (parent === dir) break;
      dir = parent;
    }
  }
  throw new Error(`sync-deps: npm package "${name}" is not installed; run \`npm ci\` at the repo root`);
}

export function syncDeps({ quiet = false } = {}) {
  rmSync(depsDir, { recursive: true, force: true });
  for (const [pkg, from, to] of FILES) {
    const src = join(findPackage(pkg), from);
    if (!existsSync(src)) throw new Error(`sync-deps: ${pkg} has no ${from} (package layout changed?)`);
    const dest = join(depsDir, to);
    mkdirSync(dirname(dest), { recursive: true });
    cpSync(src, dest);
  }
  if (!quiet) console.log(`sync-deps: ${FILES.length} third-party protos -> ${depsDir}`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    syncDeps();
  } catch (err) {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  }
}
