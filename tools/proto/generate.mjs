#!/usr/bin/env node
// Regenerates libs/proto/src/gen from proto/ (and the third-party protos synced into .proto-deps/).
// Offline: uses buf and protoc-gen-es from node_modules, never the BSR.
import { spawnSync } from "node:child_process";
import { delimiter, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { repoRoot, syncDeps } from "./sync-deps.mjs";

/** Environment with the repo's node_modules/.bin first on PATH, so buf finds protoc-gen-es. */
export function toolEnv() {
  const bin = join(repoRoot, "node_modules", ".bin");
  return { ...process.env, PATH: `${bin}${delimiter}${process.env.PATH ?? ""}` };
}

/** Runs the repo's buf with the given arguments from the repo root; returns the spawn result. */
export function buf(args, { capture = false } = {}) {
  return spawnSync(join(repoRoot, "node_modules", ".bin", "buf"), args, {
    cwd: repoRoot,
    env: toolEnv(),
    stdio: capture ? ["ignore", "pipe", "pipe"] : "inherit",
    encoding: capture ? "utf8" : undefined,
  });
}

export function generate() {
  syncDeps({ quiet: true });
  const result = buf(["generate"]);
  if (result.error) throw result.error;
  if (result.status !== 0) throw new Error(`buf generate failed (exit ${result.status})`);
  console.log("generate: libs/proto/src/gen regenerated");
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    generate();
  } catch (err) {
    console.error(`generate: ${err instanceof Error ? err.message : err}`);
    process.exit(1);
  }
}
