/** The masking corpus (libs/config masking-corpus) through the logger sink. */
import { Writable } from "node:stream";
import { FREE_TEXT, KEYED } from "@taskmaster/config/masking-corpus";
import { describe, expect, it } from "vitest";
import { createLogger } from "./logger.js";

function lines(log: (logger: ReturnType<typeof createLogger>) => void): string {
  let out = "";
  const destination = new Writable({
    write(chunk, _enc, cb) {
      out += String(chunk);
      cb();
    },
  });
  const logger = createLogger({ service: "mask-test", destination });
  log(logger);
  return out;
}

describe("no sensitive shape reaches the log unmasked", () => {
  it("logger: fields, nested fields, messages and error messages", () => {
    const out = lines((log) => {
      for (const [, text] of FREE_TEXT) {
        log.info({ detail: text, nested: { deeper: { value: text } } }, text);
        log.error({ err: new Error(text) }, "failed");
      }
      for (const [, value] of KEYED) log.info({ value }, "keyed");
    });
    for (const [name, , secret] of [...FREE_TEXT, ...KEYED]) {
      expect(out, name).not.toContain(secret);
    }
  });
});
