#!/usr/bin/env node
// Contract checks: buf lint, buf breaking against the previous commit, generated-code drift.
// Usage: node tools/proto/check.mjs [--against <git-ref>] [--skip-breaking] [--skip-drift]
// The breaking baseline defaults to HEAD~1 (override with --against or TASKMASTER_PROTO_AGAINST); it is
// skipped with a message when that commit does not exist or has no proto/ tree.
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { classifyFindings, loadAllowlist } from "./breaking-allowlist.mjs";
import { buf, generate } from "./generate.mjs";
import { depsDir, repoRoot, syncDeps } from "./sync-deps.mjs";

const args = process.argv.slice(2);
const flag = (name) => args.includes(name);
const option = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const against = option("--against") ?? process.env.TASKMASTER_PROTO_AGAINST ?? "HEAD~1";

function git(gitArgs, opts = {}) {
  return spawnSync("git", gitArgs, { cwd: repoRoot, encoding: "utf8", ...opts });
}

/** Each step returns "ok", "skipped: ..." or throws / returns "failed: ...". */
const steps = [];

steps.push([
  "lint",
  () => {
    const r = buf(["lint"]);
    return r.status === 0 ? "ok" : "failed: buf lint reported the violations above (STANDARD + COMMENTS)";
  },
]);

if (!flag("--skip-breaking")) {
  steps.push([
    `breaking (against ${against})`,
    () => {
      const rev = git(["rev-parse", "--verify", "--quiet", `${against}^{commit}`]);
      if (rev.status !== 0) return `skipped: ${against} does not exist`;
      const commit = rev.stdout.trim();
      const tree = git(["ls-tree", "-r", "--name-only", commit, "--", "proto"]);
      if (!tree.stdout.split("\n").some((f) => f.endsWith(".proto"))) {
        return `skipped: ${against} (${commit.slice(0, 12)}) has no proto/ files`;
      }
      const hasBufYaml = git(["cat-file", "-e", `${commit}:buf.yaml`]).status === 0;
      if (!hasBufYaml) return `skipped: ${against} has no buf.yaml`;
      const tmp = mkdtempSync(join(tmpdir(), "proto-breaking-"));
      try {
        // Export the old contracts, add today's third-party deps, and build an image of the proto/ module
        // (with its imports, which buf needs to resolve the against image).
        const archive = spawnSync(
          "sh",
          ["-c", `git archive "${commit}" proto buf.yaml | tar -x -C "${tmp}"`],
          {
            cwd: repoRoot,
            stdio: "inherit",
          },
        );
        if (archive.status !== 0) return `failed: could not export ${against} with git archive`;
        cpSync(depsDir, join(tmp, ".proto-deps"), { recursive: true });
        const image = join(tmp, "against.binpb");
        const build = buf(["build", join(tmp, "proto"), "-o", image]);
        if (build.status !== 0) return `failed: could not build the baseline image from ${against}`;
        const r = buf(["breaking", "proto", "--against", image, "--error-format", "json"], { capture: true });
        if (r.status === 0) return "ok";
        // Findings are allowed only when the reviewed allowlist names them (one change per package).
        const entries = loadAllowlist(join(repoRoot, "tools/proto/breaking-allowlist.json"));
        const { allowed, refused } = classifyFindings(r.stdout ?? "", entries);
        for (const { finding, entry } of allowed) {
          console.log(
            `allowed (breaking-allowlist.json, ${entry.reviewed}): ${finding.path}: ${finding.message}`,
          );
        }
        for (const { finding } of refused) {
          console.error(
            `${finding.path}:${finding.start_line}:${finding.start_column}: ${finding.message} [${finding.type}]`,
          );
        }
        if (refused.length === 0 && allowed.length > 0) return `ok (${allowed.length} allowlisted)`;
        if (refused.length === 0) return `failed: buf breaking exited ${r.status}: ${r.stderr ?? ""}`.trim();
        return `failed: breaking changes against ${against} (FILE rules) listed above; use a new package version instead, or (v1, one per package, reviewed) an entry in tools/proto/breaking-allowlist.json`;
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
    },
  ]);
}

if (!flag("--skip-drift")) {
  steps.push([
    "drift (libs/proto/src/gen)",
    () => {
      generate();
      const r = git(["status", "--porcelain", "--untracked-files=all", "--", "libs/proto/src/gen"]);
      if (r.status !== 0) return `failed: git status failed: ${r.stderr}`;
      const changed = r.stdout.trim();
      if (changed === "") return "ok";
      console.error(changed);
      return "failed: generated code differs from the committed code (listed above); run `npm run generate -w @taskmaster/proto` and commit libs/proto/src/gen";
    },
  ]);
}

let failed = 0;
const report = [];
try {
  syncDeps({ quiet: true });
} catch (err) {
  console.error(`proto check: ${err instanceof Error ? err.message : err}`);
  process.exit(1);
}
for (const [name, run] of steps) {
  console.log(`\n== proto ${name}`);
  let outcome;
  try {
    outcome = run();
  } catch (err) {
    outcome = `failed: ${err instanceof Error ? err.message : err}`;
  }
  if (outcome.startsWith("failed")) failed++;
  report.push(
    `${outcome.startsWith("failed") ? "FAIL" : outcome.startsWith("ok") ? "PASS" : "SKIP"}  ${name}: ${outcome}`,
  );
}
console.log("\n== proto check summary");
for (const line of report) console.log(line);
if (!existsSync(join(repoRoot, "libs/proto/src/gen"))) console.log("note: libs/proto/src/gen is missing");
process.exit(failed > 0 ? 1 : 0);
