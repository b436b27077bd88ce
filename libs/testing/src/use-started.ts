/**
 * `useStarted(start)`: starts something (a harness: database, server, clients) before a spec file's tests and
 * closes it after them. Returns a handle that reads through to the running value, so a spec can keep it in a
 * `const` at the top of the file.
 */
import { afterAll, beforeAll } from "vitest";

export function useStarted<T extends { close(): Promise<void> }>(
  start: () => Promise<T>,
  onStart: (started: T) => void = () => {},
): T {
  let running: T | undefined;
  beforeAll(async () => {
    running = await start();
    onStart(running);
  });
  afterAll(async () => {
    await running?.close();
  });
  return new Proxy({} as T, {
    get(_target, key) {
      if (running === undefined) throw new Error("the harness starts in beforeAll");
      const value: unknown = Reflect.get(running, key);
      return typeof value === "function" ? value.bind(running) : value;
    },
  });
}
