/**
 * `.env.example` lists every variable libs/config reads: the names are taken from this package's own sources
 * (schema keys and `env.X` reads), so a new setting without a line in `.env.example` fails here.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";

const root = join(import.meta.dirname, "..", "..", "..");

function variablesReadByConfig(): string[] {
  const names = new Set<string>();
  for (const file of readdirSync(import.meta.dirname)) {
    // Sources only: specs and the masking corpus (test data) name no settings.
    if (!file.endsWith(".ts") || file.endsWith(".spec.ts") || file.includes("corpus")) continue;
    const text = readFileSync(join(import.meta.dirname, file), "utf8");
    for (const m of text.matchAll(/^\s+([A-Z][A-Z0-9_]{2,}):/gm)) names.add(m[1] as string);
    for (const m of text.matchAll(/env\.([A-Z][A-Z0-9_]{2,})/g)) names.add(m[1] as string);
    for (const m of text.matchAll(/"(TASKMASTER_[A-Z0-9_]+|NODE_ENV)"/g)) names.add(m[1] as string);
    // Helpers reading one variable by name: present("DB_BACKUP_AT"), int("DB_BACKUP_RETENTION_DAYS", ...).
    for (const m of text.matchAll(/\b\w+\("([A-Z][A-Z0-9_]{2,})"/g)) names.add(m[1] as string);
  }
  return [...names].sort();
}

it("lists every variable libs/config reads", () => {
  const listed = new Set(
    [...readFileSync(join(root, ".env.example"), "utf8").matchAll(/^#?\s*([A-Z][A-Z0-9_]{2,})=/gm)].map(
      (m) => m[1],
    ),
  );
  const read = variablesReadByConfig();
  expect(read.length).toBeGreaterThan(30);
  expect(read.filter((name) => !listed.has(name))).toEqual([]);
});
