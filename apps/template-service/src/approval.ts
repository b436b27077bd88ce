/**
 * The approval gate for rendering and using templates: a template that requires approval may only be
 * rendered or used at a version with an APPROVED review.
 */
import type { EntityManager } from "@mikro-orm/core";
import { TemplateReviewRepository } from "@taskmaster/persistence/template-review.repository";
import { FailedPreconditionError, NotFoundError } from "@taskmaster/rpc-kit/errors";
import { templateName, versionName } from "./template.names.js";

/**
 * Throws FAILED_PRECONDITION (reason TEMPLATE_VERSION_NOT_APPROVED) when the template requires approval
 * and `version` ("x.y.z") has no approved review; NOT_FOUND when the template does not exist. Runs in
 * `em`'s transaction, if any.
 */
export async function assertVersionUsable(
  em: EntityManager,
  templateId: string,
  version: string,
): Promise<void> {
  const usable = await new TemplateReviewRepository(em).versionUsable(templateId, version);
  if (usable === null) throw new NotFoundError("template", templateName(templateId));
  if (!usable) throw versionNotApprovedError(templateId, version);
}

/** FAILED_PRECONDITION (reason TEMPLATE_VERSION_NOT_APPROVED) for an unapproved version. */
export function versionNotApprovedError(templateId: string, version: string): FailedPreconditionError {
  return new FailedPreconditionError(
    `template "${templateName(templateId)}" requires approval and version ${version} is not approved`,
    {
      reason: "TEMPLATE_VERSION_NOT_APPROVED",
      metadata: { template: templateName(templateId), version },
      violations: [
        {
          type: "NOT_APPROVED",
          subject: versionName(templateId, version),
          description: "request a review with RequestTemplateReview and approve it with DecideTemplateReview",
        },
      ],
    },
  );
}
