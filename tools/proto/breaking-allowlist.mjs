// The reviewed allowlist of deliberate breaking changes (tools/proto/breaking-allowlist.json): parsing,
// the one-entry-per-package rule, and matching buf breaking findings (`--error-format json`) against it.
import { readFileSync } from "node:fs";

/** Loads and checks the allowlist; throws naming the problem. */
export function loadAllowlist(file) {
  const doc = JSON.parse(readFileSync(file, "utf8"));
  const entries = Array.isArray(doc.entries) ? doc.entries : [];
  const perPackage = new Map();
  for (const e of entries) {
    for (const key of ["package", "rule", "message", "change", "reason", "reviewed"]) {
      if (typeof e[key] !== "string" || e[key] === "") throw new Error(`allowlist entry without "${key}"`);
    }
    perPackage.set(e.package, (perPackage.get(e.package) ?? 0) + 1);
  }
  for (const [pkg, n] of perPackage) {
    if (n > 1)
      throw new Error(`allowlist has ${n} entries for ${pkg}; at most one breaking change per package`);
  }
  return entries;
}

/** proto/taskmaster/template/v1/x.proto -> taskmaster.template.v1 */
export function packageOfPath(path) {
  const parts = path.replace(/^proto\//, "").split("/");
  parts.pop();
  return parts.join(".");
}

/** Splits buf's JSON findings (one object per line) into allowed (with their entry) and refused. */
export function classifyFindings(jsonLines, entries) {
  const allowed = [];
  const refused = [];
  for (const line of jsonLines.split("\n")) {
    if (line.trim() === "") continue;
    const f = JSON.parse(line);
    const entry = entries.find(
      (e) =>
        e.rule === f.type &&
        e.package === packageOfPath(f.path ?? "") &&
        (f.message ?? "").includes(e.message),
    );
    (entry ? allowed : refused).push({ finding: f, entry });
  }
  return { allowed, refused };
}
