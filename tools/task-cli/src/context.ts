/** What every command gets: parsed options, the SDK client on the gateway, and where to print. */
import { createTaskmasterClient, type TaskmasterClient } from "@taskmaster/client";

export interface CommandContext {
  readonly tm: TaskmasterClient;
  readonly gateway: string;
  readonly json: boolean;
  readonly token: string | undefined;
  print(text: string): void;
  printJson(value: unknown): void;
}

export function createContext(options: {
  gateway: string;
  json: boolean;
  token: string | undefined;
}): CommandContext {
  return {
    tm: createTaskmasterClient({ baseUrl: options.gateway, token: options.token, timeoutMs: 15_000 }),
    gateway: options.gateway,
    json: options.json,
    token: options.token,
    print: (text) => process.stdout.write(`${text}\n`),
    printJson: (value) => process.stdout.write(`${JSON.stringify(value, null, 2)}\n`),
  };
}

/** A usage mistake: exit code 2 with the command's help. */
export class UsageError extends Error {}

export interface Command {
  readonly summary: string;
  readonly usage: string;
  readonly options?: Readonly<
    Record<string, { type: "string" | "boolean"; multiple?: boolean; short?: string }>
  >;
  run(ctx: CommandContext, positionals: string[], values: Record<string, unknown>): Promise<void>;
}
