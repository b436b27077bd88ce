/** Review rows -> TemplateReview messages, and the review enums <-> stored values. */
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type {
  TemplateReviewKind,
  TemplateReviewRow,
  TemplateReviewState,
} from "@taskmaster/persistence/template-review.repository";
import {
  type TemplateReview,
  TemplateReviewSchema,
  TemplateReviewStatus,
  TemplateReviewType,
} from "@taskmaster/proto/gen/taskmaster/template/v1/collaboration_pb";
import { etagOf } from "./template.mapper.js";
import { templateName } from "./template.names.js";

export const TYPE_KIND: Readonly<Record<TemplateReviewType, TemplateReviewKind>> = {
  [TemplateReviewType.UNSPECIFIED]: "approval",
  [TemplateReviewType.APPROVAL]: "approval",
  [TemplateReviewType.QUALITY]: "quality",
  [TemplateReviewType.SECURITY]: "security",
  [TemplateReviewType.PERFORMANCE]: "performance",
};

const KIND_TYPE: Readonly<Record<TemplateReviewKind, TemplateReviewType>> = {
  approval: TemplateReviewType.APPROVAL,
  quality: TemplateReviewType.QUALITY,
  security: TemplateReviewType.SECURITY,
  performance: TemplateReviewType.PERFORMANCE,
};

export const STATE_STATUS: Readonly<Record<TemplateReviewState, TemplateReviewStatus>> = {
  pending: TemplateReviewStatus.PENDING,
  approved: TemplateReviewStatus.APPROVED,
  rejected: TemplateReviewStatus.REJECTED,
  needs_changes: TemplateReviewStatus.NEEDS_CHANGES,
};

export const reviewName = (templateId: string, id: string) => `${templateName(templateId)}/reviews/${id}`;

export function reviewToMessage(row: TemplateReviewRow): TemplateReview {
  return create(TemplateReviewSchema, {
    name: reviewName(row.templateId, row.id),
    version: row.templateVersion,
    reviewType: KIND_TYPE[row.reviewType],
    status: STATE_STATUS[row.status],
    reviewer: row.reviewer ?? "",
    requestedBy: row.requestedBy ?? "",
    ...(row.rating !== null ? { rating: row.rating } : {}),
    requestComments: row.requestComments ?? "",
    decisionComments: row.decisionComments ?? "",
    decidedBy: row.decidedBy ?? "",
    createTime: timestampFromDate(row.createdAt),
    ...(row.decidedAt ? { decideTime: timestampFromDate(row.decidedAt) } : {}),
    etag: etagOf(row.version),
  });
}
