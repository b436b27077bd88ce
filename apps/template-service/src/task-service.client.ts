/**
 * Calls from this service to TaskService (CreateTaskFromTemplate, RenderTemplate's task check): the headers
 * passed on, and the existence check of a task a render names. TemplateService never reads task-service's
 * tables; it asks TaskService.
 */
import { type Client, Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { TaskService } from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import {
  CLIENT_IP_HEADER,
  currentAuditContext,
  REQUEST_ID_HEADER,
  USER_AGENT_HEADER,
} from "@taskmaster/rpc-kit/audit-context";
import { deadlineFromContext } from "@taskmaster/rpc-kit/deadline";
import {
  ACTOR_HEADER,
  IDENTITY_HEADER,
  type IdentitySigner,
  verifiedIdentity,
} from "@taskmaster/rpc-kit/identity";

/**
 * Headers passed on to TaskService: trace context and the caller identity. With a signer, the identity is
 * a delegated token minted only from the verified identity of this call (never from a header the client
 * sent); a call without one goes anonymous. Without a signer, the plain actor header (development).
 */
export async function forwardedHeaders(
  ctx: HandlerContext,
  signer: IdentitySigner | undefined,
): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const h of ["traceparent", "tracestate", ...(signer === undefined ? [ACTOR_HEADER] : [])]) {
    const value = ctx.requestHeader.get(h);
    if (value !== null && value !== "") out[h] = value;
  }
  // The rest of the caller's audit context, so the task's audit row records the original call.
  const audit = currentAuditContext();
  if (audit?.requestId !== undefined) out[REQUEST_ID_HEADER] = audit.requestId;
  if (audit?.clientIp !== undefined) out[CLIENT_IP_HEADER] = audit.clientIp;
  if (audit?.userAgent !== undefined) out[USER_AGENT_HEADER] = audit.userAgent;
  const identity = signer === undefined ? undefined : verifiedIdentity(ctx);
  if (signer !== undefined && identity !== undefined) {
    out[IDENTITY_HEADER] = await signer.sign(identity, TaskService.typeName);
    out[ACTOR_HEADER] = identity.subject;
  }
  return out;
}

/**
 * Whether task `taskId` exists (deleted tasks included, as GetTask returns them), asked of TaskService as the
 * caller within the call's deadline (capped at `maxMs`). Errors other than NOT_FOUND propagate.
 */
export async function taskExists(
  tasks: Client<typeof TaskService>,
  ctx: HandlerContext,
  taskId: string,
  opts: { signer?: IdentitySigner | undefined; maxMs?: number | undefined } = {},
): Promise<boolean> {
  try {
    await tasks.getTask(
      { name: `tasks/${taskId}` },
      {
        ...deadlineFromContext(ctx, opts.maxMs ?? 10_000),
        headers: await forwardedHeaders(ctx, opts.signer),
      },
    );
    return true;
  } catch (err) {
    if (ConnectError.from(err).code === Code.NotFound) return false;
    throw err;
  }
}
