import { type SpawnOptions, spawn } from "node:child_process";

export interface ProcessResult {
  code: number | null;
  out: string;
  err: string;
}

/** Runs a command to its end with stdin closed, collecting stdout and stderr (the specs' one way to run a CLI). */
export function runProcess(
  command: string,
  args: readonly string[],
  options: Omit<SpawnOptions, "stdio"> = {},
): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, [...args], { ...options, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout?.on("data", (c: Buffer) => {
      out += c.toString();
    });
    child.stderr?.on("data", (c: Buffer) => {
      err += c.toString();
    });
    child.on("error", reject);
    child.on("exit", (code) => resolve({ code, out, err }));
  });
}
