import { Writable } from "node:stream";
import { type Context, type ContextManager, context, ROOT_CONTEXT, trace } from "@opentelemetry/api";
import { describe, expect, it } from "vitest";
import { createLogger, maskConnectionStrings } from "./logger.js";

function capture() {
  const lines: Record<string, unknown>[] = [];
  const raw: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      for (const line of String(chunk).split("\n")) {
        if (line.trim() === "") continue;
        raw.push(line);
        lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      cb();
    },
  });
  return { lines, raw, destination };
}

describe("createLogger", () => {
  it("writes JSON with service, ISO time and string level", () => {
    const { lines, destination } = capture();
    const log = createLogger({ service: "task-service", level: "debug", destination });
    log.debug({ a: 1 }, "hello");
    expect(lines[0]).toMatchObject({ service: "task-service", level: "debug", msg: "hello", a: 1 });
    expect(String(lines[0]?.time)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  it("masks secrets in fields, nested objects, connection strings, messages and errors", () => {
    const { raw, lines, destination } = capture();
    const log = createLogger({ service: "s", destination });
    log.info(
      {
        password: "p1",
        user: { apiKey: "k1", profile: { token: "t1" } },
        req: { headers: { authorization: "Bearer t2", "x-api-key": "k2" } },
        dsn: "postgres://app:p3@db:5432/x",
        list: ["postgresql://u:p4@h/db"],
      },
      "connecting to postgres://app:p5@db/x",
    );
    log.error({ err: new Error("connect failed for postgres://app:p6@db/x") }, "boom");
    const text = raw.join("\n");
    for (const secret of ["p1", "k1", "t1", "t2", "k2", "p3", "p4", "p5", "p6"]) {
      expect(text).not.toMatch(new RegExp(`\\b${secret}\\b`));
    }
    expect(lines[0]).toMatchObject({
      password: "***",
      user: { apiKey: "***", profile: { token: "***" } },
      req: { headers: { authorization: "***", "x-api-key": "***" } },
      dsn: "postgres://app:***@db:5432/x",
      msg: "connecting to postgres://app:***@db/x",
    });
    expect(lines[1]?.err).toMatchObject({ message: "connect failed for postgres://app:***@db/x" });
  });

  it("adds trace_id and span_id of the active span", () => {
    const { lines, destination } = capture();
    const log = createLogger({ service: "s", destination });
    const span = trace.wrapSpanContext({
      traceId: "0af7651916cd43dd8448eb211c80319c",
      spanId: "b7ad6b7169203331",
      traceFlags: 1,
    });
    // A minimal synchronous context manager stands in for the OTel SDK's AsyncLocalStorage one.
    let active: Context = ROOT_CONTEXT;
    const manager: ContextManager = {
      active: () => active,
      with(ctx, fn, thisArg, ...args) {
        const prev = active;
        active = ctx;
        try {
          return fn.call(thisArg, ...args);
        } finally {
          active = prev;
        }
      },
      bind: (_ctx, target) => target,
      enable() {
        return this;
      },
      disable() {
        return this;
      },
    };
    context.setGlobalContextManager(manager);
    try {
      context.with(trace.setSpan(context.active(), span), () => log.info("inside"));
      log.info("outside");
    } finally {
      context.disable();
    }
    expect(lines[0]).toMatchObject({
      trace_id: "0af7651916cd43dd8448eb211c80319c",
      span_id: "b7ad6b7169203331",
      trace_flags: "01",
    });
    expect(lines[1]).not.toHaveProperty("trace_id");
  });

  it("maskConnectionStrings leaves ordinary text alone", () => {
    expect(maskConnectionStrings("nothing here")).toBe("nothing here");
    expect(maskConnectionStrings("redis://:pw@cache:6379")).toBe("redis://:***@cache:6379");
  });
});
