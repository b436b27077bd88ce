import { defineEntity, type InferEntity, p } from "@mikro-orm/core";
import { createdAtProperty, idProperty, updatedAtProperty, versionProperty } from "./common.js";

/** Node of the template category tree (`parent` null for roots); names are unique across the tree. */
export const TemplateCategory = defineEntity({
  name: "TemplateCategory",
  tableName: "template_categories",
  properties: {
    id: idProperty(),
    name: p.string().length(100).unique("template_categories_name_uniq"),
    description: p.text().nullable(),
    parent: () => p.manyToOne(TemplateCategory).ref().nullable().deleteRule("restrict"),
    sortOrder: p.integer().default(0),
    isActive: p.boolean().default(true),
    createdAt: createdAtProperty(),
    updatedAt: updatedAtProperty(),
    version: versionProperty(),
  },
  checks: [
    { name: "template_categories_name_check", expression: "char_length(btrim(name)) between 1 and 100" },
    { name: "template_categories_parent_not_self_check", expression: "parent_id is null or parent_id <> id" },
  ],
  indexes: [{ name: "template_categories_parent_sort_idx", properties: ["parent", "sortOrder"] }],
});

export type ITemplateCategory = InferEntity<typeof TemplateCategory>;
