import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { stack } from "./stack.js";

const root = join(import.meta.dirname, "..", "..", "..");

interface ComposeService {
  image?: string;
  command?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  profiles?: string[];
  volumes?: string[];
}
interface ComposeFile {
  services: Record<string, ComposeService>;
}

const compose = parse(readFileSync(join(root, "docker-compose.yml"), "utf8"), { merge: true }) as ComposeFile;
const dockerfile = readFileSync(join(root, "Dockerfile"), "utf8");
const nodeVersion = readFileSync(join(root, ".nvmrc"), "utf8").trim();

describe("docker-compose.yml runs the same stack as ./taskmaster start", () => {
  it.each(stack.map((member) => [member.entry, member] as const))("runs %s", (entry, member) => {
    const service = Object.values(compose.services).find((s) => s.command?.includes(entry));
    expect(service, `no compose service runs ${entry}`).toBeDefined();
    expect(service?.image).toBe("taskmaster:local");
    expect(Object.keys(service?.environment ?? {})).toContain(member.portEnv);
    expect(service?.environment?.DATABASE_URL).toMatch(/^postgres:\/\//);
  });

  it("migrates before any service starts, with the same tool the launcher uses", () => {
    expect(compose.services.migrate?.command).toEqual(["node", "tools/db/dist/db.js", "migrate", "up"]);
    for (const member of stack) {
      const service = Object.values(compose.services).find((s) => s.command?.includes(member.entry));
      const waitsForMigrate = service?.depends_on?.migrate?.condition === "service_completed_successfully";
      const waitsForServices =
        member.name === "gateway" && service?.depends_on?.["task-service"] !== undefined;
      expect(waitsForMigrate || waitsForServices).toBe(true);
    }
  });

  it("migrates as the owner and runs every service as a least-privilege login (README: Database roles)", () => {
    const owner = new URL(compose.services.migrate?.environment?.MIGRATION_DATABASE_URL ?? "");
    expect(owner.username).toBe(compose.services.postgres?.environment?.POSTGRES_USER);
    const grants = compose.services["db-roles"]?.command?.join(" ") ?? "";
    for (const member of stack) {
      const service = Object.values(compose.services).find((s) => s.command?.includes(member.entry));
      const user = new URL(service?.environment?.DATABASE_URL ?? "").username;
      expect([member.name, user]).not.toEqual([member.name, owner.username]);
      expect(grants).toMatch(new RegExp(`--role app[a-z,]* --user ${user}\\b`));
      // The gateway waits for the services, which wait for the logins.
      const waits =
        member.name === "gateway" ? service?.depends_on?.["task-service"] : service?.depends_on?.["db-roles"];
      expect(waits?.condition).toMatch(/^service_(completed_successfully|started)$/);
    }
  });

  it("preloads pg_stat_statements as the embedded default does", () => {
    expect(compose.services.postgres?.command?.join(" ")).toContain(
      "shared_preload_libraries=pg_stat_statements",
    );
  });

  it("builds on the Node version pinned in .nvmrc", () => {
    const images = [...dockerfile.matchAll(/^FROM node:([\d.]+)/gm)].map((m) => m[1]);
    expect(images.length).toBeGreaterThan(0);
    for (const version of images) expect(version).toBe(nodeVersion);
  });

  it("keeps the tunnel opt-in behind a profile", () => {
    expect(compose.services.cloudflared?.profiles).toEqual(["tunnel"]);
  });
});

describe("docker-compose.yml backs the data up (docs/operations.md)", () => {
  it("archives WAL from postgres into a volume it owns", () => {
    const command = compose.services.postgres?.command?.join(" ") ?? "";
    expect(command).toContain("archive_mode=on");
    expect(command).toMatch(/archive_command=.*\/wal-archive\/%f/);
    expect(command).toContain("chown postgres:postgres /wal-archive");
    expect(compose.services.postgres?.volumes).toContain("walarchive:/wal-archive");
  });

  it("runs a backup service with the data, archive and attachment volumes and the DB_BACKUP_* settings", () => {
    const backup = compose.services.backup;
    expect(backup?.command).toEqual(["node", "tools/db/dist/db.js", "backup-daemon"]);
    expect(backup?.volumes).toEqual(
      expect.arrayContaining([
        "pgdata:/var/lib/postgresql:ro",
        "walarchive:/wal-archive",
        "backups:/data/backups",
        "attachments:/data/attachments",
      ]),
    );
    for (const name of [
      "DB_BACKUP_ENABLED",
      "DB_BACKUP_AT",
      "DB_BACKUP_RETENTION_DAYS",
      "DB_BACKUP_DIR",
      "DB_WAL_ARCHIVE_DIR",
    ])
      expect(Object.keys(backup?.environment ?? {})).toContain(name);
    expect(backup?.environment?.DB_WAL_ARCHIVE_DIR).toBe("/wal-archive");
    expect(backup?.environment?.TASK_ATTACHMENT_DIR).toBe(
      compose.services["task-service"]?.environment?.TASK_ATTACHMENT_DIR,
    );
  });

  it("keeps attachments in a volume the image's user can write", () => {
    const task = compose.services["task-service"];
    expect(task?.volumes).toContain(`attachments:${task?.environment?.TASK_ATTACHMENT_DIR}`);
    expect(dockerfile).toMatch(/mkdir -p \/data\/attachments[^\n]*chown -R node:node \/data\nUSER node/);
  });
});
