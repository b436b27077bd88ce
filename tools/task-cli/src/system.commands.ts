/** `./taskmaster health` and `./taskmaster status`: the gateway's /health and /status, for people or scripts. */
import type { Command, CommandContext } from "./context.js";
import { table, withSpinner } from "./format.js";

async function getJson(ctx: CommandContext, path: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(new URL(path, ctx.gateway), {
    headers: { accept: "application/json", ...(ctx.token ? { authorization: `Bearer ${ctx.token}` } : {}) },
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: shown as is
  }
  return { status: res.status, body };
}

function flatten(value: unknown, prefix = "", out: [string, string][] = []): [string, string][] {
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else out.push([prefix, Array.isArray(value) ? JSON.stringify(value) : String(value)]);
  return out;
}

function unhealthy(status: number): Error {
  return Object.assign(new Error(`the gateway answered HTTP ${status}`), { exitCode: 5 });
}

export const systemCommands: Record<string, Command> = {
  health: {
    summary: "Health of the gateway and every service (exit 5 when not serving)",
    usage: "health [--json]",
    async run(ctx) {
      const { status, body } = await withSpinner("checking health", getJson(ctx, "/health"));
      ctx.json ? ctx.printJson(body) : ctx.print(table(flatten(body), ["CHECK", "VALUE"]));
      if (status !== 200) throw unhealthy(status);
    },
  },
  status: {
    summary: "System status: services, database, pool, slow queries, alerts (admin)",
    usage: "status [--json]",
    async run(ctx) {
      const { status, body } = await withSpinner("reading status", getJson(ctx, "/status"));
      ctx.json ? ctx.printJson(body) : ctx.print(table(flatten(body).slice(0, 200), ["FIELD", "VALUE"]));
      if (status !== 200) throw unhealthy(status);
    },
  },
};
