import { defineEntity, type InferEntity, p } from "@mikro-orm/core";
import { between, inSet, matches } from "../sql-checks.js";
import {
  SEMVER_PATTERN,
  TEMPLATE_REVIEW_STATUSES,
  TEMPLATE_REVIEW_TYPES,
  type TemplateReviewStatus,
  type TemplateReviewType,
} from "../value-sets.js";
import {
  createdAtProperty,
  idProperty,
  timestampProperty,
  updatedAtProperty,
  versionProperty,
} from "./common.js";
import { Template } from "./template.entity.js";

/** Review of a template version (approval workflow). */
export const TemplateReview = defineEntity({
  name: "TemplateReview",
  tableName: "template_reviews",
  properties: {
    id: idProperty(),
    template: () => p.manyToOne(Template).ref().deleteRule("cascade"),
    templateVersion: p.string().length(32),
    reviewType: p.string().length(16).$type<TemplateReviewType>().default("approval"),
    status: p.string().length(16).$type<TemplateReviewStatus>().default("pending"),
    rating: p.smallint().nullable(),
    comments: p.text().nullable(),
    reviewer: p.string().length(255).nullable(),
    requestedBy: p.string().length(255).nullable(),
    decidedAt: timestampProperty(),
    createdAt: createdAtProperty(),
    updatedAt: updatedAtProperty(),
    version: versionProperty(),
  },
  checks: [
    { name: "template_reviews_version_check", expression: matches("template_version", SEMVER_PATTERN, true) },
    { name: "template_reviews_type_check", expression: inSet("review_type", TEMPLATE_REVIEW_TYPES) },
    { name: "template_reviews_status_check", expression: inSet("status", TEMPLATE_REVIEW_STATUSES) },
    { name: "template_reviews_rating_check", expression: between("rating", 1, 5) },
    {
      name: "template_reviews_decision_check",
      expression: "(status = 'pending') = (decided_at is null)",
    },
  ],
  indexes: [
    { name: "template_reviews_template_status_idx", properties: ["template", "status"] },
    { name: "template_reviews_reviewer_idx", properties: ["reviewer"] },
  ],
});

export type ITemplateReview = InferEntity<typeof TemplateReview>;
