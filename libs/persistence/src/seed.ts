import type { EntityManager, MikroORM } from "@mikro-orm/core";
import { Milestone } from "./entities/milestone.entity.js";
import { Release } from "./entities/release.entity.js";
import { Sprint } from "./entities/sprint.entity.js";
import { TemplateCategory } from "./entities/template-category.entity.js";
import { TemplateType } from "./entities/template-type.entity.js";
import {
  SEED_MILESTONE,
  SEED_RELEASE,
  SEED_SPRINT,
  SEED_TASKS,
  SEED_TEMPLATE_CATEGORIES,
  SEED_TEMPLATE_TYPES,
} from "./seed-data.js";
import { query, sql } from "./sql-toolkit.js";
import { TaskRepository } from "./task.repository.js";

export interface SeedResult {
  templateTypes: number;
  templateCategories: number;
  sprints: number;
  releases: number;
  milestones: number;
  tasks: number;
}

export interface SeedOptions {
  /** Also create the demo sprint, release, milestone and tasks (default true). */
  demo?: boolean;
  /** Progress line per step. */
  onProgress?: (message: string) => void;
}

const DAY = 86_400_000;

/**
 * Seeds the nine template types, the category tree and (by default) demo planning data.
 * Idempotent: rows are found by natural key (type/category name, sprint name, release version,
 * task `external_id` = `seed:<key>`) and only missing ones are inserted. Returns the counts inserted.
 */
export async function seedDatabase(orm: MikroORM, opts: SeedOptions = {}): Promise<SeedResult> {
  const log = opts.onProgress ?? (() => {});
  const result: SeedResult = {
    templateTypes: 0,
    templateCategories: 0,
    sprints: 0,
    releases: 0,
    milestones: 0,
    tasks: 0,
  };
  const em = orm.em.fork();

  await em.transactional(async (tx) => {
    for (const t of SEED_TEMPLATE_TYPES) {
      if (!(await tx.findOne(TemplateType, { name: t.name }))) {
        tx.create(TemplateType, { ...t });
        result.templateTypes++;
      }
    }
    await tx.flush();
    log(`template types: ${result.templateTypes} inserted, ${SEED_TEMPLATE_TYPES.length} total`);

    const byName = new Map<string, string>();
    for (const c of await tx.find(TemplateCategory, {})) byName.set(c.name, c.id);
    for (const c of SEED_TEMPLATE_CATEGORIES) {
      if (byName.has(c.name)) continue;
      const parentId = c.parent ? byName.get(c.parent) : undefined;
      const created = tx.create(TemplateCategory, {
        name: c.name,
        description: c.description,
        sortOrder: c.sortOrder,
        parent: parentId ?? null,
      });
      byName.set(c.name, created.id);
      result.templateCategories++;
    }
    await tx.flush();
    log(
      `template categories: ${result.templateCategories} inserted, ${SEED_TEMPLATE_CATEGORIES.length} total`,
    );
  });

  if (opts.demo === false) return result;

  const planning = await em.transactional(async (tx) => {
    const now = Date.now();
    let sprint = await tx.findOne(Sprint, { name: SEED_SPRINT.name, deletedAt: null });
    if (!sprint) {
      sprint = tx.create(Sprint, {
        name: SEED_SPRINT.name,
        goal: SEED_SPRINT.goal,
        status: "active",
        startsAt: new Date(now - 3 * DAY),
        endsAt: new Date(now + (SEED_SPRINT.days - 3) * DAY),
        capacityPoints: 40,
      });
      result.sprints++;
    }
    let release = await tx.findOne(Release, { versionLabel: SEED_RELEASE.versionLabel, deletedAt: null });
    if (!release) {
      release = tx.create(Release, {
        name: SEED_RELEASE.name,
        versionLabel: SEED_RELEASE.versionLabel,
        description: "First public release",
        status: "in_progress",
        targetDate: new Date(now + SEED_RELEASE.daysAhead * DAY),
      });
      result.releases++;
    }
    let milestone = await tx.findOne(Milestone, { name: SEED_MILESTONE.name, deletedAt: null });
    if (!milestone) {
      milestone = tx.create(Milestone, {
        name: SEED_MILESTONE.name,
        description: "Beta open to invited teams",
        dueDate: new Date(now + SEED_MILESTONE.daysAhead * DAY),
        release: release.id,
      });
      result.milestones++;
    }
    await tx.flush();
    return { sprintId: sprint.id, releaseId: release.id, milestoneId: milestone.id };
  });
  log(
    `planning: ${result.sprints} sprint, ${result.releases} release, ${result.milestones} milestone inserted`,
  );

  result.tasks = await seedTasks(em, planning);
  log(`tasks: ${result.tasks} inserted, ${SEED_TASKS.length} total`);
  return result;
}

async function seedTasks(
  em: EntityManager,
  planning: { sprintId: string; releaseId: string; milestoneId: string },
): Promise<number> {
  const existing = await query(
    em,
    sql<{
      id: string;
      external_id: string;
    }>`select id, external_id from tasks where external_id like 'seed:%'`,
  );
  const ids = new Map<string, string>(existing.map((r) => [r.external_id.slice(5), r.id] as const));
  const keys = new Map(SEED_TASKS.map((t) => [t.key, t] as const));
  const epicOf = (key: string): string | undefined => {
    let t = keys.get(key);
    while (t?.parent) t = keys.get(t.parent);
    return t && t.type === "epic" && t.key !== key ? t.key : undefined;
  };
  const repo = new TaskRepository(em);
  let inserted = 0;
  for (const t of SEED_TASKS) {
    if (ids.has(t.key)) continue;
    const epicKey = epicOf(t.key);
    const row = await repo.create(
      {
        title: t.title,
        type: t.type,
        status: t.status,
        priority: t.priority,
        complexity: t.complexity,
        description: t.description ?? null,
        storyPoints: t.storyPoints ?? null,
        assignedTo: t.assignedTo ?? null,
        reporter: "seed@taskmaster.local",
        labels: t.labels ?? [],
        estimatedHours: t.estimatedHours ?? null,
        parentId: t.parent ? (ids.get(t.parent) ?? null) : null,
        epicId: epicKey ? (ids.get(epicKey) ?? null) : null,
        sprintId: t.inSprint ? planning.sprintId : null,
        releaseId: planning.releaseId,
        milestoneId: t.type === "epic" ? planning.milestoneId : null,
        externalId: `seed:${t.key}`,
        startedAt: ["in_progress", "review", "testing", "completed"].includes(t.status) ? new Date() : null,
        completedAt: t.status === "completed" ? new Date() : null,
      },
      { actor: "seed" },
    );
    ids.set(t.key, row.id);
    inserted++;
  }
  return inserted;
}
