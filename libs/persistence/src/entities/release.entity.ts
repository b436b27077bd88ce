import { defineEntity, type InferEntity, p } from "@mikro-orm/core";
import { inSet } from "../sql-checks.js";
import { RELEASE_STATUSES, type ReleaseStatus } from "../value-sets.js";
import { idProperty, lifecycleProperties, timestampProperty } from "./common.js";

/** A shippable release (upstream `release_version`); tasks point at it through `tasks.release_id`. */
export const Release = defineEntity({
  name: "Release",
  tableName: "releases",
  properties: {
    id: idProperty(),
    name: p.string().length(255),
    /** Version label as users write it (e.g. `2.4.0`, `2025.06`); free form, unique among live releases. */
    versionLabel: p.string().length(64),
    description: p.text().nullable(),
    status: p.string().length(16).$type<ReleaseStatus>().default("planned"),
    targetDate: timestampProperty(),
    releasedAt: timestampProperty(),
    ...lifecycleProperties(),
  },
  checks: [
    { name: "releases_name_length_check", expression: "char_length(btrim(name)) between 1 and 255" },
    {
      name: "releases_version_label_check",
      expression: "char_length(btrim(version_label)) between 1 and 64",
    },
    { name: "releases_status_check", expression: inSet("status", RELEASE_STATUSES) },
    {
      name: "releases_released_at_check",
      expression: "(status = 'released') = (released_at is not null)",
    },
  ],
  indexes: [
    { name: "releases_status_idx", properties: ["status"] },
    { name: "releases_target_date_idx", properties: ["targetDate"] },
  ],
  uniques: [
    {
      name: "releases_version_label_live_uniq",
      expression:
        "create unique index releases_version_label_live_uniq on releases (version_label) where deleted_at is null",
    },
  ],
});

export type IRelease = InferEntity<typeof Release>;
