/**
 * Shared setup of the gateway specs: an open edge for specs about forwarding rather than security, and a
 * gateway listening on a free port.
 */
import type { AddressInfo } from "node:net";
import { createAuthenticator } from "./authn.js";
import { createRoleResolver, roleMapSchema } from "./authz.js";
import type { EdgeOptions } from "./edge.js";
import { LIMIT_DEFAULTS } from "./gateway-config.js";
import { createSecurityEvents, type SecurityEvents, type SecurityEventsOptions } from "./security-events.js";
import type { Gateway } from "./server.js";

/** Development mode at the edge (no authentication, default roles, test limits); edge.spec.ts covers security. */
export function openEdge(
  logger: SecurityEventsOptions["logger"],
  events: SecurityEvents = createSecurityEvents({ logger }),
): EdgeOptions {
  return {
    authenticator: createAuthenticator({ mode: "none" }),
    resolveRoles: createRoleResolver(roleMapSchema.parse({})),
    events,
    limits: LIMIT_DEFAULTS.test,
  };
}

/** Starts `gateway` on a free port of 127.0.0.1 and returns the port. */
export async function listenGateway(gateway: Gateway): Promise<number> {
  await new Promise<void>((resolve) => gateway.server.listen(0, "127.0.0.1", resolve));
  return (gateway.server.address() as AddressInfo).port;
}
