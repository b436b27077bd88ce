/** The logger masks with the policy it is handed (TASKMASTER_MASK_KEYS / TASKMASTER_MASK_PATTERNS). */
import { Writable } from "node:stream";
import { loadConfig } from "@taskmaster/config/config";
import { createMaskingPolicy } from "@taskmaster/config/masking";
import { describe, expect, it } from "vitest";
import { createLogger } from "./logger.js";

describe("createLogger({ masking })", () => {
  it("masks a custom key and a custom pattern from the settings in fields, messages, errors and bindings", () => {
    const config = loadConfig(undefined, {
      TASKMASTER_MASK_KEYS: "tenant_pin",
      TASKMASTER_MASK_PATTERNS: String.raw`acct-\d{4}`,
    });
    let out = "";
    const destination = new Writable({
      write(chunk, _enc, cb) {
        out += String(chunk);
        cb();
      },
    });
    const logger = createLogger({
      service: "mask-test",
      destination,
      masking: createMaskingPolicy(config.masking),
    });
    logger.info({ tenantPin: "4711", nested: { tenant_pin: "4712" } }, "charge acct-1234");
    logger.error({ err: new Error("acct-5678 refused") }, "failed");
    logger.child({ account: "acct-9012" }).info("child");
    for (const secret of ["4711", "4712", "acct-1234", "acct-5678", "acct-9012"])
      expect(out).not.toContain(secret);
    expect(out).toContain('"tenantPin":"***"');
    expect(out).toContain("charge ***");
  });
});
