import type { MikroORM } from "@mikro-orm/postgresql";
import { databasePing } from "@taskmaster/persistence/service-database";
import { HealthRegistry } from "@taskmaster/rpc-kit/health";

/** A health registry whose `services` are only as healthy as the database (`SELECT 1`, cached briefly). */
export function databaseHealth(orm: MikroORM, services: readonly string[]): HealthRegistry {
  const health = new HealthRegistry();
  for (const service of services) {
    health.addCheck(service, "database", async () => {
      await databasePing(orm);
      return true;
    });
  }
  return health;
}
