import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Parent pid and state of `pid` from /proc, or undefined when it is gone. */
function statOf(pid: number): { ppid: number; state: string } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { state: fields[0] ?? "?", ppid: Number(fields[1]) };
  } catch {
    return undefined;
  }
}

/** Every descendant of `root` (children, their children, ...), from /proc. */
export function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    const st = statOf(pid);
    if (st) children.set(st.ppid, [...(children.get(st.ppid) ?? []), pid]);
  }
  const found: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    for (const child of children.get(queue.shift() as number) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

/** The pids of `pids` still running (zombies count as gone). */
export function stillRunning(pids: readonly number[]): number[] {
  return pids.filter((pid) => {
    const st = statOf(pid);
    return st !== undefined && st.state !== "Z";
  });
}

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
