/**
 * Per spec file (vitest `setupFiles` of the service packages): installs the output contract check on every
 * server the file starts, and at the end of the file records what it saw (OUTPUT_ONLY fields set, services
 * called, failures) for the coverage check of output-coverage.global-setup.ts.
 */
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Interceptor } from "@connectrpc/connect";
import { afterAll, beforeAll, inject } from "vitest";
import { createOutputContractInterceptor, createOutputContractRecorder } from "./output-contract.js";

declare module "vitest" {
  export interface ProvidedContext {
    /** Directory where each spec file writes its output contract record. */
    outputContractDir: string;
  }
}

/** What one spec file writes. */
export interface OutputContractRecord {
  file: string;
  services: string[];
  outputOnlySet: string[];
  failures: string[];
}

/**
 * Puts the check on every server this file creates, by subscribing to the diagnostics channel `channelName`
 * on which rpc-kit's `createGrpcServer` announces each new server (rpc-kit's `SERVER_CREATE_CHANNEL`,
 * passed in because rpc-kit's own specs use this package).
 */
export function useOutputContractCheck(channelName: string): void {
  const recorder = createOutputContractRecorder();
  const check = createOutputContractInterceptor(recorder);
  const onServerCreate = (event: unknown): void => {
    (event as { outerInterceptors: Interceptor[] }).outerInterceptors.push(check);
  };
  beforeAll(() => subscribe(channelName, onServerCreate));
  // vitest passes the file's suite second (the first argument is the fixture context).
  // biome-ignore lint/correctness/noEmptyPattern: vitest requires a destructuring pattern for the context
  afterAll(({}, suite) => {
    unsubscribe(channelName, onServerCreate);
    const dir = inject("outputContractDir");
    const file = (suite as { filepath?: string }).filepath ?? `unknown-${process.pid}`;
    if (!dir) return;
    const record: OutputContractRecord = {
      file,
      services: [...recorder.services].sort(),
      outputOnlySet: [...recorder.outputOnlySet].sort(),
      failures: recorder.failures,
    };
    writeFileSync(join(dir, `${file.replace(/[^A-Za-z0-9._-]/g, "_")}.json`), JSON.stringify(record));
  });
}
