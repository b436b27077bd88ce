import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "./config.js";
import { createMaskingPolicy } from "./masking.js";

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error("expected a ConfigError");
}

describe("loadConfig: TASKMASTER_MASK_KEYS / TASKMASTER_MASK_PATTERNS", () => {
  it("has no extra keys or patterns when neither is set", () => {
    const c = loadConfig(undefined, {});
    expect(c.masking.extraKeys).toEqual([]);
    expect(c.masking.extraPatterns).toEqual([]);
  });

  it("reads comma-separated keys and ;;-separated patterns into a policy", () => {
    const c = loadConfig(undefined, {
      TASKMASTER_MASK_KEYS: " tenant_pin , badge-code ",
      TASKMASTER_MASK_PATTERNS: String.raw`acct-\d{4};;ZZ[0-9]+`,
    });
    expect(c.masking.extraKeys).toEqual(["tenant_pin", "badge-code"]);
    const policy = createMaskingPolicy(c.masking);
    expect(policy.maskObject({ tenantPin: "4711", other: "acct-1234 and zz99, x" })).toEqual({
      tenantPin: "***",
      other: "*** and ***, x",
    });
  });

  it("refuses a pattern that is not a regular expression, naming the variable", () => {
    const err = configError(() => loadConfig(undefined, { TASKMASTER_MASK_PATTERNS: "ok;;(unclosed" }));
    expect(err.issues.map((i) => i.variable)).toEqual(["TASKMASTER_MASK_PATTERNS"]);
    expect(err.message).toMatch(/TASKMASTER_MASK_PATTERNS .*\(unclosed/);
  });
});
