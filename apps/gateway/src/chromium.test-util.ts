/**
 * Debian's Chromium for the browser specs, installed by the test setup when missing (idempotent:
 * `apt-get update && apt-get install -y chromium`, as CI runs as root). When it cannot be installed the
 * spec fails with the reason: it never skips silently.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { type Browser, chromium } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";

export function ensureChromium(): string {
  if (existsSync(CHROMIUM)) return CHROMIUM;
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const run = (args: string[]) => spawnSync("apt-get", args, { env, encoding: "utf8", timeout: 480_000 });
  const update = run(["update", "-qq"]);
  const install = update.status === 0 ? run(["install", "-y", "-qq", "chromium"]) : update;
  if (!existsSync(CHROMIUM))
    throw new Error(
      `Chromium is needed for the /status page spec and could not be installed with apt-get ` +
        `(exit ${install.status}): ${(install.stderr || String(install.error ?? "")).slice(-600)}`,
    );
  return CHROMIUM;
}

/** Headless Chromium with no background traffic; playwright gives each launch a fresh temporary profile. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: ensureChromium(),
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}
