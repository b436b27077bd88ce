/**
 * Reading a group of optional settings from the environment (backup, audit schedule, data retention): blank
 * counts as unset (the default applies), and every bad value becomes one issue naming its variable, so the
 * caller can throw one ConfigError listing all of them.
 */
import type { ConfigIssue, Env } from "./config.js";
import { intVar } from "./env-vars.js";

export interface EnvReader {
  /** The trimmed value, or undefined when unset or blank. */
  present(name: string): string | undefined;
  /** An integer in [min, max]; `fallback` when unset (or invalid, with an issue). */
  int(name: string, min: number, max: number, fallback: number): number;
  /** true/1/yes or false/0/no; `fallback` when unset (or invalid, with an issue). */
  bool(name: string, fallback: boolean): boolean;
}

/** A reader of `env` that appends problems to `issues`. */
export function envReader(env: Env, issues: ConfigIssue[]): EnvReader {
  const present = (name: string): string | undefined => {
    const v = env[name]?.trim();
    return v === undefined || v === "" ? undefined : v;
  };
  return {
    present,
    int(name, min, max, fallback) {
      const raw = present(name);
      if (raw === undefined) return fallback;
      const parsed = intVar(min, max).safeParse(raw);
      if (parsed.success) return parsed.data;
      const why = parsed.error.issues[0]?.message ?? "is invalid";
      issues.push({ variable: name, message: `${why} (got "${raw.slice(0, 40)}")` });
      return fallback;
    },
    bool(name, fallback) {
      const raw = present(name)?.toLowerCase();
      if (raw === undefined) return fallback;
      if (["true", "1", "yes"].includes(raw)) return true;
      if (["false", "0", "no"].includes(raw)) return false;
      issues.push({ variable: name, message: `must be true or false (got "${raw.slice(0, 40)}")` });
      return fallback;
    },
  };
}
