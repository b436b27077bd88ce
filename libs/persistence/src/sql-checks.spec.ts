import { describe, expect, it } from "vitest";
import { between, inSet, jsonKind, matches, nullOrInSet } from "./sql-checks.js";
import { SEMVER_REGEX } from "./value-sets.js";

describe("sql-checks", () => {
  it("builds CHECK expressions with quoted literals", () => {
    expect(inSet("status", ["a", "it's"])).toBe("status in ('a', 'it''s')");
    expect(nullOrInSet("s", ["x"])).toBe("s is null or s in ('x')");
    expect(between("r", 1, 10)).toBe("r is null or (r >= 1 and r <= 10)");
    expect(between("r", 1, 10, true)).toBe("r >= 1 and r <= 10");
    expect(jsonKind("m", "object")).toBe("jsonb_typeof(m) = 'object'");
    expect(matches("k", "^a$", true)).toBe("k ~ '^a$'");
  });

  it("semver pattern accepts x.y.z only", () => {
    for (const ok of ["0.0.0", "1.2.3", "10.20.30"]) expect(SEMVER_REGEX.test(ok)).toBe(true);
    for (const bad of ["1.2", "01.2.3", "x.1", "1.2.3-beta", "v1.2.3"])
      expect(SEMVER_REGEX.test(bad)).toBe(false);
  });
});
