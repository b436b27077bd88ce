/**
 * TASKMASTER_MASK_KEYS / TASKMASTER_MASK_PATTERNS reach a real server: the policy is built from the parsed
 * config (as the composition root does) and handed to createServer, and a stored usage row masks by it.
 */
import { loadConfig } from "@taskmaster/config/config";
import { createMaskingPolicy } from "@taskmaster/config/masking";
import { createLogger } from "@taskmaster/telemetry/logger";
import { describe, expect, it } from "vitest";
import { ACTOR_HEADER } from "./authorization.js";
import { clientWithHeaders, useHarness } from "./harness.test-util.js";
import { makeTemplate } from "./render.test-util.js";
import { createServer } from "./server.js";

const h = useHarness();

describe("masking settings", () => {
  it("a usage row masks a custom key and a custom pattern given through the settings", async () => {
    const config = loadConfig(undefined, {
      TASKMASTER_MASK_KEYS: "tenant_pin",
      TASKMASTER_MASK_PATTERNS: String.raw`acct-\d{4}`,
    });
    const masking = createMaskingPolicy(config.masking);
    const server = createServer({
      orm: h.orm,
      masking,
      logger: createLogger({ service: "template-test-mask", level: "silent", masking }),
    });
    const { port } = await server.listen("127.0.0.1", 0);
    try {
      const client = clientWithHeaders(`http://127.0.0.1:${port}`, { [ACTOR_HEADER]: "alice" });
      const t = await makeTemplate(client);
      const res = await client.logTemplateUsage({
        parent: t.name,
        templateUsageLog: {
          usedBy: "agent",
          success: false,
          errorMessage: "charge to acct-1234 failed",
          inputParameters: { tenant_pin: "4711", nested: { tenantPin: "9" }, note: "acct-9876", fine: "ok" },
        },
      });
      expect(res.templateUsageLog?.inputParameters).toEqual({
        tenant_pin: "***",
        nested: { tenantPin: "***" },
        note: "***",
        fine: "ok",
      });
      expect(res.templateUsageLog?.errorMessage).toBe("charge to *** failed");
    } finally {
      await server.shutdown(1_000);
    }
  });
});
