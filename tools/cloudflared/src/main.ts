#!/usr/bin/env node
/**
 * `taskmaster-cloudflared [--out <dir>] [--compose]`: writes `<dir>/config.yml` (default ./cloudflared) from
 * the environment (CLOUDFLARED_*, CF_ACCESS_TEAM_DOMAIN, CF_ACCESS_AUD), or prints it when no --out is given;
 * `--compose` prints the matching docker-compose service instead. Bad variables: one line, exit 2.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { cloudflaredEnvSchema, renderComposeService, renderConfigYaml } from "./cloudflared-config.js";

const { values } = parseArgs({
  options: { out: { type: "string" }, compose: { type: "boolean", default: false } },
});
const clean = Object.fromEntries(Object.entries(process.env).filter(([, v]) => v !== undefined && v !== ""));
const parsed = cloudflaredEnvSchema.safeParse(clean);
if (!parsed.success) {
  const problems = parsed.error.issues.map((i) => `${i.path.join(".")} ${i.message}`).join("; ");
  process.stderr.write(`invalid configuration: ${problems}\n`);
  process.exit(2);
}
if (values.compose) {
  process.stdout.write(renderComposeService(parsed.data, values.out ?? "./cloudflared"));
} else if (values.out === undefined) {
  process.stdout.write(renderConfigYaml(parsed.data));
} else {
  mkdirSync(values.out, { recursive: true });
  const file = join(values.out, "config.yml");
  writeFileSync(file, renderConfigYaml(parsed.data));
  process.stdout.write(`wrote ${file}\n`);
}
