/**
 * The masking corpus (masking-corpus.ts) through the policy itself, usage-log inputs (`maskSecrets`, as the
 * template service applies it) and `describeConfig`; the logger sink is checked in libs/telemetry.
 */
import { describe, expect, it } from "vitest";
import { describeConfig } from "./config.js";
import { maskSecrets, maskUrl } from "./mask.js";
import {
  createMaskingPolicy,
  isSecretKey,
  MASK,
  maskingOptionsFromEnv,
  maskObject,
  maskValue,
} from "./masking.js";
import { FREE_TEXT, KEYED } from "./masking-corpus.js";

describe("masking policy", () => {
  it.each(FREE_TEXT)("masks %s in free text", (_, text, secret) => {
    const masked = maskValue(text);
    expect(masked).not.toContain(secret);
    expect(masked).toContain(MASK);
  });

  it.each(KEYED)("masks %s by key", (_, value, secret) => {
    expect(JSON.stringify(maskObject(value))).not.toContain(secret);
  });

  it("leaves ordinary text and values alone", () => {
    for (const text of [
      "nothing here",
      "author: Jane",
      "status = done",
      "see https://example.com/a?b=c",
      "tasks/0193a1b2-0000-7000-8000-000000000001",
    ]) {
      expect(maskValue(text)).toBe(text);
    }
    expect(maskObject({ title: "t", points: 3, tags: ["a"], when: null })).toEqual({
      title: "t",
      points: 3,
      tags: ["a"],
      when: null,
    });
    expect(isSecretKey("title")).toBe(false);
    expect(isSecretKey("X-Api-Key")).toBe(true);
  });

  it("handles cycles and keeps the input unchanged", () => {
    const a: Record<string, unknown> = { password: "p", nested: { url: "postgres://u:pw@h/db" } };
    a.self = a;
    const masked = maskObject(a) as Record<string, unknown>;
    expect(masked.self).toBe("[Circular]");
    expect(masked.nested).toEqual({ url: "postgres://u:***@h/db" });
    expect(a.password).toBe("p");
  });

  it("is configurable: extra keys and patterns, also from the environment", () => {
    const policy = createMaskingPolicy(
      maskingOptionsFromEnv({
        TASKMASTER_MASK_KEYS: "ssn, pin",
        TASKMASTER_MASK_PATTERNS: "\\bEMP-[0-9]{6}\\b",
      }),
    );
    expect(policy.maskObject({ SSN: "123-45-6789", pinCode: "1234", ok: "EMP-123456 and x" })).toEqual({
      SSN: MASK,
      pinCode: MASK,
      ok: `${MASK} and x`,
    });
    expect(() => createMaskingPolicy({ extraPatterns: [{ name: "bad", pattern: /x/ }] })).toThrow(/global/);
  });
});

describe("no sensitive shape reaches a sink unmasked", () => {
  it("usage-log inputs (maskSecrets, as the template service applies it)", () => {
    const inputs: Record<string, unknown> = {};
    FREE_TEXT.forEach(([, text], i) => {
      inputs[`input_${i}`] = text;
    });
    KEYED.forEach(([, value], i) => {
      inputs[`obj_${i}`] = value;
    });
    const masked = JSON.stringify(maskSecrets(inputs));
    for (const [name, , secret] of [...FREE_TEXT, ...KEYED]) expect(masked, name).not.toContain(secret);
  });

  it("describeConfig and maskUrl", () => {
    const config = {
      database: { url: "postgres://app:cfgPw123@db/tm" },
      auth: { jwtSecret: "cfgJwt456", issuers: [{ audience: "x", clientSecret: "cfgCs789" }] },
      notes: FREE_TEXT.map(([, text]) => text),
    };
    const text = JSON.stringify(describeConfig(config));
    for (const secret of ["cfgPw123", "cfgJwt456", "cfgCs789", ...FREE_TEXT.map(([, , s]) => s)]) {
      expect(text).not.toContain(secret);
    }
    expect(maskUrl("postgres://app:x@h/db")).toBe("postgres://app:***@h/db");
  });
});
