/**
 * A logger must never throw, whatever it is handed: a log call sits in error paths (an `'error'` listener,
 * a catch block) where a throw takes the process down. Observed: a string passed as `err` (the text of a
 * pg termination notice) made the err serializer assign `.message` on a string and throw a TypeError from
 * the template-changes listener's onDown. Every odd value, as `err`, as a field, as the whole object and as
 * the message, at every level.
 */
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger } from "./logger.js";

function capture() {
  const raw: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      for (const line of String(chunk).split("\n")) if (line.trim() !== "") raw.push(line);
      cb();
    },
  });
  return { raw, destination };
}

function oddValues(): [string, unknown][] {
  const cyclic: Record<string, unknown> = { name: "cyclic" };
  cyclic.self = cyclic;
  const cyclicError = new Error("cyclic error postgres://u:secretpw@h/db") as Error & { self?: unknown };
  cyclicError.self = cyclicError;
  const throwing = Object.defineProperty({}, "boom", {
    enumerable: true,
    get() {
      throw new Error("getter threw");
    },
  });
  const throwingError = new Error("has a throwing getter");
  Object.defineProperty(throwingError, "detail", {
    enumerable: true,
    get() {
      throw new Error("getter threw");
    },
  });
  const frozenError = Object.freeze(new Error("frozen error postgres://u:secretpw@h/db"));
  const noProto = Object.create(null) as Record<string, unknown>;
  noProto.x = 1;
  const errorWithStringCause = new Error("outer", { cause: "terminating connection" });
  const revoked = Proxy.revocable({}, {});
  revoked.revoke();
  const hostileProxy = new Proxy(
    {},
    {
      get() {
        throw new Error("proxy get");
      },
      ownKeys() {
        throw new Error("proxy ownKeys");
      },
      getPrototypeOf() {
        throw new Error("proxy getPrototypeOf");
      },
    },
  );
  const badToJSON = {
    toJSON() {
      throw new Error("toJSON threw");
    },
  };
  const badMessage = new Error("x");
  Object.defineProperty(badMessage, "message", {
    get() {
      throw new Error("message getter threw");
    },
  });
  return [
    ["a string (pg termination text)", "terminating connection due to administrator command"],
    ["a string with a password", "postgres://u:secretpw@h/db"],
    ["empty string", ""],
    ["null", null],
    ["undefined", undefined],
    ["number", 42],
    ["NaN", Number.NaN],
    ["BigInt", 10n ** 30n],
    ["boolean", false],
    ["symbol", Symbol("s")],
    ["function", () => 1],
    ["frozen object", Object.freeze({ message: "frozen", password: "secretpw" })],
    ["frozen error", frozenError],
    ["sealed error", Object.seal(new Error("sealed"))],
    ["cyclic object", cyclic],
    ["cyclic error", cyclicError],
    ["object with a throwing getter", throwing],
    ["error with a throwing getter", throwingError],
    ["error whose message getter throws", badMessage],
    ["object whose toJSON throws", badToJSON],
    ["null-prototype object", noProto],
    ["error with a string cause", errorWithStringCause],
    ["revoked proxy", revoked.proxy],
    ["hostile proxy", hostileProxy],
    ["array of odd values", [null, 1n, cyclic, "s"]],
    ["deep object", { a: { b: { c: { d: { e: { f: 1n } } } } } }],
    ["Date", new Date(Number.NaN)],
    ["Map", new Map([[1, 2n]])],
    ["AggregateError", new AggregateError([new Error("a"), "b"], "many")],
  ];
}

describe("createLogger never throws", () => {
  const levels = ["fatal", "error", "warn", "info", "debug", "trace"] as const;

  it.each(oddValues())("%s as err, field, object and message", (_label, value) => {
    const { raw, destination } = capture();
    const log = createLogger({ service: "s", level: "trace", destination });
    for (const level of levels) {
      expect(() => log[level]({ err: value }, "as err")).not.toThrow();
      expect(() => log[level]({ error: value, nested: { v: value } }, "as field")).not.toThrow();
      // biome-ignore lint/suspicious/noExplicitAny: pino's overloads refuse some of these; callers in JS do not.
      expect(() => (log[level] as any)(value)).not.toThrow();
      // biome-ignore lint/suspicious/noExplicitAny: as above.
      expect(() => (log[level] as any)(value, "with a message")).not.toThrow();
      // biome-ignore lint/suspicious/noExplicitAny: as above.
      expect(() => (log[level] as any)("message with arg %s %o", value, value)).not.toThrow();
      expect(() => log.child({ ctx: value })[level]({ err: value }, "child")).not.toThrow();
    }
    // Something was written for each call, and never a password.
    expect(raw.length).toBeGreaterThan(0);
    for (const line of raw) {
      expect(() => JSON.parse(line)).not.toThrow();
      expect(line).not.toContain("secretpw");
    }
  });

  it("keeps a string err readable", () => {
    const { raw, destination } = capture();
    const log = createLogger({ service: "s", destination });
    log.warn({ err: "terminating connection due to administrator command" }, "LISTEN lost");
    const line = JSON.parse(raw[0] ?? "{}") as Record<string, unknown>;
    expect(JSON.stringify(line.err)).toContain("terminating connection due to administrator command");
    expect(line.msg).toBe("LISTEN lost");
  });
});
