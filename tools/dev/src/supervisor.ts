/**
 * Supervises the stack's members: starts them in order, restarts one that dies (crash, `kill -9`) with backoff
 * (0.5 s doubling to 8 s), gives up after 5 failures within 60 s (like a compose restart policy), and stops
 * them in reverse order, each bounded (SIGTERM to its process group, SIGKILL after the grace period).
 */
import { type Member, startMember, stopMember } from "./member.js";
import type { StackMember } from "./stack.js";

export interface RestartPolicy {
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  /** Failures within `windowMs` after which the member is given up. */
  readonly maxFailures: number;
  readonly windowMs: number;
}

export const defaultRestartPolicy: RestartPolicy = {
  initialDelayMs: 500,
  maxDelayMs: 8_000,
  maxFailures: 5,
  windowMs: 60_000,
};

/** What to do after a failure at `now`, given the earlier failure times (pure). */
export function restartDecision(
  earlier: readonly number[],
  now: number,
  policy: RestartPolicy = defaultRestartPolicy,
): { failures: number[]; giveUp: boolean; delayMs: number } {
  const failures = [...earlier.filter((t) => now - t < policy.windowMs), now];
  const delayMs = Math.min(policy.initialDelayMs * 2 ** (failures.length - 1), policy.maxDelayMs);
  return { failures, giveUp: failures.length >= policy.maxFailures, delayMs };
}

export interface SupervisorOptions {
  readonly root: string;
  readonly host: string;
  readonly env: NodeJS.ProcessEnv;
  readonly ports: ReadonlyMap<StackMember, number>;
  readonly log: (message: string) => void;
  /** Called once when a member failed too often; the owner then stops the stack. */
  readonly onGiveUp: (spec: StackMember, reason: string) => void;
  readonly policy?: RestartPolicy;
  /** Members' output lines (default: stdout with a name prefix). */
  readonly output?: (line: string) => void;
  /** Grace per member on stop before SIGKILL (default 10 s). */
  readonly graceMs?: number;
}

export interface Supervisor {
  /** Starts `spec` and waits until it is healthy; supervised from then on. */
  start(spec: StackMember): Promise<Member>;
  /** The running process of `spec`, if any. */
  member(spec: StackMember): Member | undefined;
  /** Restarts so far, by member name. */
  restarts(): ReadonlyMap<string, number>;
  /** Stops every member in reverse start order (bounded); no restart after this. */
  stopAll(): Promise<void>;
  /** SIGKILL to every member's process group at once (a forced exit). */
  killAll(): void;
}

interface Slot {
  member?: Member;
  failures: number[];
  restarts: number;
}

function shortName(spec: StackMember): string {
  return spec.name.split(".").at(-1) ?? spec.name;
}

export function createSupervisor(options: SupervisorOptions): Supervisor {
  const policy = options.policy ?? defaultRestartPolicy;
  const abort = new AbortController();
  const slots = new Map<StackMember, Slot>();
  const order: StackMember[] = [];
  const pending = new Set<Promise<void>>();

  const spawnMember = (spec: StackMember) =>
    startMember(spec, {
      root: options.root,
      host: options.host,
      port: options.ports.get(spec) ?? spec.defaultPort,
      env: options.env,
      signal: abort.signal,
      onExit: () => {},
      ...(options.output ? { output: options.output } : {}),
    });

  const watch = (spec: StackMember, slot: Slot, member: Member) => {
    const onExit = () => {
      if (abort.signal.aborted || slot.member !== member) return;
      const code = member.child.signalCode ?? member.child.exitCode ?? "unknown";
      slot.member = undefined;
      const task = recover(spec, slot, `exited (${code})`).finally(() => pending.delete(task));
      pending.add(task);
    };
    if (member.child.exitCode !== null || member.child.signalCode !== null) onExit();
    else member.child.once("exit", onExit);
  };

  const recover = async (spec: StackMember, slot: Slot, what: string): Promise<void> => {
    const decision = restartDecision(slot.failures, Date.now(), policy);
    slot.failures = decision.failures;
    const n = decision.failures.length;
    if (decision.giveUp) {
      const reason = `${shortName(spec)} ${what}: ${n} failures within ${policy.windowMs / 1000} s, giving up`;
      options.log(reason);
      options.onGiveUp(spec, reason);
      return;
    }
    options.log(
      `${shortName(spec)} ${what}; restarting in ${decision.delayMs} ms (failure ${n} of ${policy.maxFailures} allowed within ${policy.windowMs / 1000} s)`,
    );
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, decision.delayMs);
      abort.signal.addEventListener("abort", () => {
        clearTimeout(timer);
        resolve();
      });
    });
    if (abort.signal.aborted) return;
    try {
      const member = await spawnMember(spec);
      if (abort.signal.aborted) {
        await stopMember(member, options.graceMs ?? 10_000);
        return;
      }
      slot.member = member;
      slot.restarts += 1;
      options.log(`${shortName(spec)} restarted (pid ${member.child.pid}, restart ${slot.restarts})`);
      watch(spec, slot, member);
    } catch (error) {
      if (!abort.signal.aborted)
        await recover(spec, slot, `did not start again: ${(error as Error).message}`);
    }
  };

  return {
    async start(spec) {
      const member = await spawnMember(spec);
      const slot: Slot = { member, failures: [], restarts: 0 };
      slots.set(spec, slot);
      order.push(spec);
      watch(spec, slot, member);
      return member;
    },
    member: (spec) => slots.get(spec)?.member,
    restarts: () => new Map([...slots].map(([spec, slot]) => [spec.name, slot.restarts])),
    async stopAll() {
      abort.abort();
      await Promise.all([...pending]);
      for (const spec of [...order].reverse()) {
        const member = slots.get(spec)?.member;
        if (member) await stopMember(member, options.graceMs ?? 10_000);
      }
    },
    killAll() {
      abort.abort();
      for (const slot of slots.values()) {
        const pid = slot.member?.child.pid;
        if (pid !== undefined) killGroup(pid, "SIGKILL");
      }
    },
  };
}

/** Signals a member's process group (members run in their own group); quiet when it is gone. */
export function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}
