/**
 * The git-ignored Python venv (`.venv-python/` at the repo root) the Python example runs in: created once per
 * machine from the machine's pip index, reinstalled only when `examples/python/requirements.txt` changes (its
 * hash is kept in the venv). A failed install throws with pip's own words: CI must not skip the Python check.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface PythonVenv {
  /** The venv's python executable. */
  python: string;
}

function run(cmd: string, args: string[], what: string): void {
  const res = spawnSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  if (res.error || res.status !== 0) {
    const detail =
      res.error?.message ?? `${res.stderr}${res.stdout}`.trim().split("\n").slice(-15).join("\n");
    throw new Error(
      `${what} failed (exit ${res.status}); the Python example cannot run without it. ` +
        `Is the pip index reachable (try \`pip download grpcio-tools -d /tmp/x\`)?\n${detail}`,
    );
  }
}

/** Ensures `<root>/.venv-python` holds the example's requirements; returns its python. */
export function ensurePythonVenv(root: string): PythonVenv {
  const venv = join(root, ".venv-python");
  const requirements = join(root, "examples", "python", "requirements.txt");
  const hash = createHash("sha256").update(readFileSync(requirements)).digest("hex");
  const stamp = join(venv, ".requirements.sha256");
  const python = join(venv, "bin", "python");
  if (existsSync(python) && existsSync(stamp) && readFileSync(stamp, "utf8") === hash) return { python };
  rmSync(venv, { recursive: true, force: true });
  run("python3", ["-m", "venv", venv], "python3 -m venv");
  run(
    python,
    ["-m", "pip", "install", "--quiet", "-r", requirements],
    "pip install -r examples/python/requirements.txt",
  );
  writeFileSync(stamp, hash);
  return { python };
}
