/**
 * Background work a server owns (health polling, alert evaluation, schedulers, LISTEN connections, batchers):
 * built without side effects by `createServer(deps)`, started after the server listens and stopped on
 * shutdown by the server's lifecycle (grpc-server.ts), which the runtime drives (`runDatabaseService`).
 */
export interface LifecycleMember {
  /** Shown in logs, e.g. "health-monitor". */
  readonly name: string;
  /** Called once the server listens, in the order given. */
  readonly start?: (() => void) | undefined;
  /** Called on shutdown, in reverse order; errors are reported and later members still stop. */
  readonly stop: () => Promise<unknown> | unknown;
  /**
   * Stop before the gRPC drain (it ends streams or runs that in-flight calls wait on). Default: after the
   * drain (it serves the calls until they finish, e.g. a batcher they write to).
   */
  readonly stopBeforeDrain?: boolean | undefined;
}

/** Starts `members` in order. */
export function startMembers(members: readonly LifecycleMember[]): void {
  for (const member of members) member.start?.();
}

/** Stops `members` in reverse order, each even when an earlier one failed (failures go to `onError`). */
export async function stopMembers(
  members: readonly LifecycleMember[],
  onError: (member: LifecycleMember, err: unknown) => void,
): Promise<void> {
  for (const member of [...members].reverse()) {
    try {
      await member.stop();
    } catch (err) {
      onError(member, err);
    }
  }
}
