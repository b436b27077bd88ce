/**
 * `node --import @taskmaster/telemetry/register dist/main.js`: starts OpenTelemetry before application code.
 * Service name and version come from the nearest package.json of the main script (`@taskmaster/task-service`
 * -> `task-service`) unless OTEL_SERVICE_NAME is set. When telemetry is off (the development default) this
 * loads nothing else. When on, it installs the import-in-the-middle ESM hook for the instrumented modules
 * only (pg), then starts the SDK.
 */
import { existsSync, readFileSync } from "node:fs";
import { register } from "node:module";
import { dirname, join, resolve } from "node:path";
import { startTelemetry, telemetrySettingsFromEnv } from "./otel.js";

function mainPackage(): { name: string; version: string } {
  const main = process.argv[1];
  let dir = main === undefined ? process.cwd() : dirname(resolve(main));
  for (;;) {
    const file = join(dir, "package.json");
    if (existsSync(file)) {
      try {
        const pkg = JSON.parse(readFileSync(file, "utf8")) as { name?: string; version?: string };
        if (pkg.name !== undefined) {
          return { name: pkg.name.replace(/^@[^/]+\//, ""), version: pkg.version ?? "0.0.0" };
        }
      } catch {
        // unreadable package.json: keep looking upwards
      }
    }
    const parent = dirname(dir);
    if (parent === dir) return { name: "unknown_service:node", version: "0.0.0" };
    dir = parent;
  }
}

const pkg = mainPackage();
const defaults = { serviceName: pkg.name, serviceVersion: pkg.version };
if (telemetrySettingsFromEnv(process.env, defaults).enabled) {
  const { createAddHookMessageChannel } = await import("import-in-the-middle");
  const { registerOptions, waitForAllMessagesAcknowledged } = createAddHookMessageChannel();
  register("import-in-the-middle/hook.mjs", import.meta.url, registerOptions);
  await startTelemetry(defaults);
  await waitForAllMessagesAcknowledged();
}
