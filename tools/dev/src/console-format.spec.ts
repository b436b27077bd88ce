/**
 * The development console on real log lines: a real pino logger (the services' createLogger) writes to a
 * stream, and each line it wrote goes through the launcher's formatter.
 */
import { Writable } from "node:stream";
import { createLogger } from "@taskmaster/telemetry/logger";
import { describe, expect, it } from "vitest";
import { consoleFormatOptions, createConsoleFormatter } from "./console-format.js";

/** Lines a real service logger writes, at the given level. */
function logLines(
  write: (log: ReturnType<typeof createLogger>) => void,
  level: "info" | "debug" = "info",
): string[] {
  let text = "";
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      text += chunk.toString();
      done();
    },
  });
  // pino writes synchronously to a plain stream's write(): the lines are there when write() returns.
  write(createLogger({ service: "task-service", level, destination }));
  return text.split("\n").filter((l) => l !== "");
}

const ESC = "\u001b[";

describe("console format", () => {
  it("prints one readable line per event with the member's name, level, message and fields", () => {
    const lines = logLines((log) => {
      log.info({ method: "CreateTask", durationMs: 12.5, code: "OK" }, "rpc done");
      log.warn({ pool: { waiting: 2 } }, "pool is busy");
      log.error({ err: new TypeError("boom") }, "handler failed");
    });
    expect(lines).toHaveLength(3);
    const format = createConsoleFormatter({ color: false });
    const out = lines.map((l) => format("TaskService", l));
    expect(out[0]).toMatch(
      /^\d\d:\d\d:\d\d\.\d{3} INFO {2}TaskService +rpc done method=CreateTask durationMs=12.5 code=OK$/,
    );
    expect(out[1]).toMatch(/ WARN {2}TaskService +pool is busy pool=\{"waiting":2\}$/);
    expect(out[2]).toMatch(/ ERROR TaskService +handler failed err="TypeError: boom"$/);
    for (const line of out) {
      expect(line).not.toContain("\n");
      expect(line).not.toMatch(/"level"|pid=|service=/);
    }
  });

  it("colours the level and the member on a terminal", () => {
    const [line = ""] = logLines((log) => log.error("failed"));
    const out = createConsoleFormatter({ color: true })("gateway", line);
    expect(out).toContain(`${ESC}31mERROR${ESC}0m`);
    expect(out.split(ESC).some((part) => /^\d+(;\d+)?mgateway +$/.test(part))).toBe(true);
  });

  it("keeps the raw JSON with --json / LOG_FORMAT=json, and outside development", () => {
    const [line = ""] = logLines((log) => log.info({ a: 1 }, "hello"));
    const raw = createConsoleFormatter(consoleFormatOptions({ LOG_FORMAT: "json" }, false, true));
    expect(raw("gateway", line)).toBe(`gateway | ${line}`);
    expect(JSON.parse(line)).toMatchObject({ msg: "hello", a: 1, service: "task-service" });
    expect(consoleFormatOptions({}, true, true).json).toBe(true);
    expect(consoleFormatOptions({}, false, true)).toEqual({ json: false, color: true });
    expect(consoleFormatOptions({ NO_COLOR: "1" }, false, true).color).toBe(false);
    expect(consoleFormatOptions({}, false, false).color).toBe(false);
  });

  it("passes lines that are not log records through with the member's name", () => {
    const out = createConsoleFormatter({ color: false })("TemplateService", "    at main (file.js:1:1)");
    expect(out).toMatch(/^\d\d:\d\d:\d\d\.\d{3} {7}TemplateService + {4}at main \(file\.js:1:1\)$/);
  });

  it("drops debug records at the info level the launcher sets", () => {
    const lines = logLines((log) => {
      log.debug("tick");
      log.info("started");
    });
    expect(lines.map((l) => JSON.parse(l).msg)).toEqual(["started"]);
  });
});
