/**
 * The approval gate for rendering and using templates: a template that requires approval may only be
 * rendered or used at a version with an APPROVED review. The check itself is part of the one render read
 * (libs/persistence/src/template-render.repository.ts); this is its error.
 */
import { FailedPreconditionError } from "@taskmaster/rpc-kit/errors";
import { templateName, versionName } from "./template.names.js";

/** FAILED_PRECONDITION (reason TEMPLATE_NOT_APPROVED) for an unapproved version. */
export function versionNotApprovedError(templateId: string, version: string): FailedPreconditionError {
  return new FailedPreconditionError(
    `template "${templateName(templateId)}" requires approval and version ${version} is not approved`,
    {
      reason: "TEMPLATE_NOT_APPROVED",
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
