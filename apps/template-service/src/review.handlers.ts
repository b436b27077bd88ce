/**
 * TemplateService reviews: Request (WRITE), Get and List (READ), Decide (APPROVE); levels are enforced by the
 * authorization interceptor. An approval records approver and time on the review and on the template.
 * A factory; one EntityManager fork per call.
 */
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import type { MikroORM } from "@mikro-orm/postgresql";
import type { Condition } from "@taskmaster/persistence/list-page";
import { TemplateRepository } from "@taskmaster/persistence/template.repository";
import {
  type ReviewFilterField,
  TemplateReviewRepository,
} from "@taskmaster/persistence/template-review.repository";
import type { TemplateRow } from "@taskmaster/persistence/template-row.mapper";
import {
  type TemplateReview,
  TemplateReviewStatus,
  TemplateReviewTypeSchema,
} from "@taskmaster/proto/gen/taskmaster/template/v1/collaboration_pb";
import {
  DecideTemplateReviewResponseSchema,
  GetTemplateReviewResponseSchema,
  ListTemplateReviewsResponseSchema,
  RequestTemplateReviewResponseSchema,
  type TemplateService,
} from "@taskmaster/proto/gen/taskmaster/template/v1/template_service_pb";
import {
  FailedPreconditionError,
  NotFoundError,
  PermissionDeniedError,
  StaleEtagError,
} from "@taskmaster/rpc-kit/errors";
import { listQueryOf } from "@taskmaster/rpc-kit/list-filter";
import { validator } from "@taskmaster/rpc-kit/validation";
import { callerOf, readableBy } from "./authorization.js";
import { childName, templateParent } from "./permission.validation.js";
import { reviewName, reviewToMessage, TYPE_KIND } from "./review.mapper.js";
import { REVIEWS } from "./template.filter.js";
import { templateToMessage } from "./template.mapper.js";
import { templateName, versionName } from "./template.names.js";
import { checkVersion } from "./template.validation.js";

export interface ReviewHandlerDeps {
  readonly orm: MikroORM;
}

const MAX_COMMENTS = 10_000;

const DECISIONS: Partial<Record<TemplateReviewStatus, "approved" | "rejected" | "needs_changes">> = {
  [TemplateReviewStatus.APPROVED]: "approved",
  [TemplateReviewStatus.REJECTED]: "rejected",
  [TemplateReviewStatus.NEEDS_CHANGES]: "needs_changes",
};

export function createTemplateReviewHandlers(
  deps: ReviewHandlerDeps,
): Pick<
  ServiceImpl<typeof TemplateService>,
  "requestTemplateReview" | "getTemplateReview" | "listTemplateReviews" | "decideTemplateReview"
> {
  const repository = () => new TemplateReviewRepository(deps.orm.em.fork());

  return {
    async requestTemplateReview(req, ctx) {
      const caller = callerOf(ctx);
      const v = validator();
      const templateId = templateParent(v, "parent", req.parent);
      v.uuid("request_id", req.requestId);
      if (!v.required("template_review", req.templateReview)) v.check();
      const r = req.templateReview as TemplateReview;
      checkVersion(v, "template_review.version", r.version, true);
      v.enumDefined("template_review.review_type", r.reviewType, TemplateReviewTypeSchema, {
        allowUnspecified: true,
      });
      v.maxLength("template_review.reviewer", r.reviewer, 255);
      v.maxLength("template_review.request_comments", r.requestComments, MAX_COMMENTS);
      v.check();
      const id = templateId as string;
      const repo = repository();
      if (req.requestId !== "") {
        const existing = await repo.findByRequestId(req.requestId);
        if (existing)
          return create(RequestTemplateReviewResponseSchema, { templateReview: reviewToMessage(existing) });
      }
      const row = await repo.transactional(async (tx) => {
        if ((await new TemplateRepository(tx.em).getById(id)) === null) {
          throw new NotFoundError("template", templateName(id));
        }
        if (!(await tx.versionExists(id, r.version))) {
          throw new NotFoundError("template version", versionName(id, r.version));
        }
        const reviewId = await tx.insert({
          templateId: id,
          templateVersion: r.version,
          reviewType: TYPE_KIND[r.reviewType] ?? "approval",
          reviewer: r.reviewer.trim() === "" ? null : r.reviewer,
          requestComments: r.requestComments === "" ? null : r.requestComments,
          requestedBy: caller.subject,
          requestId: req.requestId === "" ? null : req.requestId,
        });
        return tx.get(id, reviewId);
      });
      return create(RequestTemplateReviewResponseSchema, {
        ...(row ? { templateReview: reviewToMessage(row) } : {}),
      });
    },

    async getTemplateReview(req) {
      const v = validator();
      const ref = childName(v, "name", "reviews", req.name);
      v.check();
      const { templateId, id } = ref as { templateId: string; id: string };
      const row = await repository().get(templateId, id);
      if (row === null) throw new NotFoundError("template review", reviewName(templateId, id));
      return create(GetTemplateReviewResponseSchema, { templateReview: reviewToMessage(row) });
    },

    async listTemplateReviews(req, ctx) {
      const caller = callerOf(ctx);
      const v = validator();
      const templateId = templateParent(v, "parent", req.parent, { wildcard: true });
      const { orderBy, conditions, ...query } = listQueryOf(req, REVIEWS, {
        pageSize: v,
        binding: [req.parent, req.filter, req.orderBy, caller.subject],
      });
      const repo = repository();
      if (
        templateId !== null &&
        (await new TemplateRepository(repo.em).getById(templateId as string, { includeDeleted: true })) ===
          null
      ) {
        throw new NotFoundError("template", templateName(templateId as string));
      }
      const page = await repo.list({
        templateId: templateId ?? null,
        visible: templateId === null ? readableBy(caller, "t") : null,
        ...query,
        // REVIEWS allows only = and != and gives strings.
        conditions: conditions as Condition<ReviewFilterField>[],
        orderBy,
      });
      return create(ListTemplateReviewsResponseSchema, {
        templateReviews: page.items.map(reviewToMessage),
        nextPageToken: page.nextPageToken ?? "",
      });
    },

    async decideTemplateReview(req, ctx) {
      const caller = callerOf(ctx);
      const v = validator();
      const ref = childName(v, "name", "reviews", req.name);
      const decision = DECISIONS[req.decision];
      if (v.required("decision", req.decision) && decision === undefined) {
        v.add("decision", "must be APPROVED, REJECTED or NEEDS_CHANGES", "INVALID_ENUM");
      }
      if (req.rating === undefined) {
        if (decision === "approved" || decision === "rejected") {
          v.add("rating", "is required when approving or rejecting", "REQUIRED");
        }
      } else {
        v.range("rating", req.rating, 1, 5);
      }
      v.maxLength("comments", req.comments, MAX_COMMENTS);
      if ((decision === "rejected" || decision === "needs_changes") && req.comments.trim() === "") {
        v.add("comments", "is required when rejecting or requesting changes", "REQUIRED");
      }
      v.check();
      const { templateId, id } = ref as { templateId: string; id: string };
      const name = reviewName(templateId, id);
      const result = await repository().transactional(async (tx) => {
        const review = await tx.get(templateId, id, { forUpdate: true });
        if (review === null) throw new NotFoundError("template review", name);
        if (req.etag !== "" && req.etag !== reviewToMessage(review).etag) {
          throw new StaleEtagError("template review", name);
        }
        if (review.status !== "pending") {
          throw new FailedPreconditionError(`review "${name}" was already decided (${review.status})`, {
            reason: "INVALID_STATE",
            violations: [
              { type: "NOT_PENDING", subject: name, description: `the review is ${review.status}` },
            ],
          });
        }
        if (review.reviewer !== null && review.reviewer !== caller.subject && !caller.internal) {
          throw new PermissionDeniedError(
            `review "${name}" is assigned to another reviewer`,
            "PERMISSION_DENIED",
            { reviewer: review.reviewer },
          );
        }
        const ok = await tx.decide({
          templateId,
          id,
          expectedVersion: review.version,
          status: decision as "approved",
          rating: req.rating ?? null,
          comments: req.comments === "" ? null : req.comments,
          decidedBy: caller.subject,
        });
        if (!ok) throw new StaleEtagError("template review", name);
        const template = await new TemplateRepository(tx.em).getById(templateId, { includeDeleted: true });
        return { review: await tx.get(templateId, id), template };
      });
      return create(DecideTemplateReviewResponseSchema, {
        ...(result.review ? { templateReview: reviewToMessage(result.review) } : {}),
        ...(result.template ? { template: templateToMessage(result.template as TemplateRow) } : {}),
      });
    },
  };
}
