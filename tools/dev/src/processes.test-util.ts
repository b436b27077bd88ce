import { type ChildProcess, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export { descendants, stillRunning } from "./proc-tree.js";

/** Polls `probe` until true or `timeoutMs` passes (a condition with a deadline, not a sleep). */
export async function eventually(
  probe: () => boolean | Promise<boolean>,
  timeoutMs: number,
): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await probe()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return probe();
}

// A real pseudo-terminal (Python's pty): the command is the foreground process group of a terminal, so a
// Ctrl-C written to the terminal reaches every process of that group, as in an interactive shell.
const PTY_SCRIPT = `
import os, pty, sys, select
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
print("PTY-CHILD", pid, flush=True)
while True:
    r, _, _ = select.select([fd, 0], [], [])
    if fd in r:
        try:
            data = os.read(fd, 65536)
        except OSError:
            break
        if not data:
            break
        os.write(1, data)
    if 0 in r:
        if b"c" in os.read(0, 1024):
            os.write(fd, b"\\x03")
_, status = os.waitpid(pid, 0)
print("\\nPTY-EXIT", os.waitstatus_to_exitcode(status), flush=True)
`;

export interface InTerminal {
  readonly process: ChildProcess;
  /** Writes Ctrl-C (0x03) to the terminal. */
  ctrlC(): void;
}

/** Runs `command` as the foreground job of a new pseudo-terminal. */
export function runInTerminal(
  command: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv },
): InTerminal {
  const script = join(tmpdir(), `taskmaster-pty-${process.pid}.py`);
  writeFileSync(script, PTY_SCRIPT);
  const child = spawn("python3", [script, ...command], { ...options, stdio: ["pipe", "pipe", "pipe"] });
  return { process: child, ctrlC: () => child.stdin?.write("c\n") };
}
