/** Request/Get/List/Decide template reviews and the approval gate, end to end over gRPC and PostgreSQL. */
import { randomUUID } from "node:crypto";
import { Code, type ConnectError } from "@connectrpc/connect";
import { ErrorInfoSchema } from "@taskmaster/proto/gen/google/rpc/error_details_pb";
import {
  TemplatePermissionLevel,
  TemplateReviewStatus,
  TemplateReviewType,
} from "@taskmaster/proto/gen/taskmaster/template/v1/collaboration_pb";
import { describe, expect, it } from "vitest";
import { failure, uniq, useHarness, violatedFields } from "./harness.test-util.js";

const h = useHarness();

async function newTemplate(requiresApproval = false): Promise<{ name: string; id: string }> {
  const res = await h.client.createTemplate({
    template: {
      slug: uniq("rev"),
      title: "Reviewed",
      templateType: "templateTypes/prompt_instruction",
      content: "Do {{objective}}",
      variables: [{ name: "objective" }],
      parameters: { objective: "x" },
      active: true,
      requiresApproval,
    },
  });
  return { name: res.template?.name as string, id: res.template?.uid as string };
}

const notApproved = (err: ConnectError) => err.findDetails(ErrorInfoSchema)[0]?.reason;

describe("RequestTemplateReview / DecideTemplateReview", () => {
  it("approves a version: records approver and time, and unlocks the approval gate", async () => {
    const t = await newTemplate(true);
    // The gate as callers meet it: rendering a pinned version.
    const render = (version: string) =>
      h.client.renderTemplate({ name: t.name, version, inputs: { objective: "x" } });
    const blocked = await failure(render("1.0.0"), Code.FailedPrecondition);
    expect(notApproved(blocked)).toBe("TEMPLATE_NOT_APPROVED");
    await h.client.grantTemplatePermission({
      parent: t.name,
      templatePermission: {
        grantee: { case: "user", value: "rita" },
        permission: TemplatePermissionLevel.APPROVE,
      },
    });
    await h.client.grantTemplatePermission({
      parent: t.name,
      templatePermission: {
        grantee: { case: "user", value: "rita" },
        permission: TemplatePermissionLevel.READ,
      },
    });
    const comments = "Ünïcødé ✓ '; drop table template_reviews; --";
    const req = await h.client.requestTemplateReview({
      parent: t.name,
      templateReview: { version: "1.0.0", reviewer: "rita", requestComments: comments },
    });
    const r = req.templateReview;
    expect(r?.status).toBe(TemplateReviewStatus.PENDING);
    expect(r?.reviewType).toBe(TemplateReviewType.APPROVAL);
    expect(r?.requestedBy).toBe("alice");
    expect(r?.requestComments).toBe(comments);
    expect(r?.etag).toBe('W/"1"');
    // alice owns the template (ADMIN) but the review is assigned to rita
    await failure(
      h.client.decideTemplateReview({
        name: r?.name as string,
        decision: TemplateReviewStatus.APPROVED,
        rating: 5,
      }),
      Code.PermissionDenied,
    );
    await failure(
      h.as("rita").decideTemplateReview({
        name: r?.name as string,
        decision: TemplateReviewStatus.APPROVED,
        rating: 5,
        etag: 'W/"9"',
      }),
      Code.Aborted,
    );
    const d = await h.as("rita").decideTemplateReview({
      name: r?.name as string,
      decision: TemplateReviewStatus.APPROVED,
      rating: 5,
      comments: "ok",
      etag: r?.etag as string,
    });
    expect(d.templateReview?.status).toBe(TemplateReviewStatus.APPROVED);
    expect(d.templateReview?.decidedBy).toBe("rita");
    expect(d.templateReview?.rating).toBe(5);
    expect(d.templateReview?.decisionComments).toBe("ok");
    expect(d.templateReview?.decideTime).toBeDefined();
    expect(d.template?.approvedVersion).toBe("1.0.0");
    expect(d.template?.approvedBy).toBe("rita");
    expect(d.template?.approveTime).toBeDefined();
    expect((await render("1.0.0")).output).toBe("Do x");
    // A newer version is not approved by the old review.
    await h.client.updateTemplate({
      template: { name: t.name, content: "Do {{objective}} now" },
      updateMask: { paths: ["content"] },
    });
    const newer = await failure(render("1.0.1"), Code.FailedPrecondition);
    expect(notApproved(newer)).toBe("TEMPLATE_NOT_APPROVED");
    // The versions say so too: 1.0.0 (and the "approved" alias) approved, 1.0.1 not.
    const version = async (v: string) =>
      (await h.client.getTemplateVersion({ name: `${t.name}/versions/${v}` })).templateVersion;
    expect((await version("1.0.0"))?.approved).toBe(true);
    expect(await version("approved")).toMatchObject({ version: "1.0.0", approved: true });
    expect((await version("1.0.1"))?.approved).toBe(false);
    const again = await failure(
      h.as("rita").decideTemplateReview({
        name: r?.name as string,
        decision: TemplateReviewStatus.REJECTED,
        rating: 1,
        comments: "no",
      }),
      Code.FailedPrecondition,
    );
    expect(again.rawMessage).toMatch(/already decided/);
  });

  it("rejects and requests changes (comments required) without approving", async () => {
    const t = await newTemplate(true);
    const ask = async () =>
      (await h.client.requestTemplateReview({ parent: t.name, templateReview: { version: "1.0.0" } }))
        .templateReview?.name as string;
    const a = await ask();
    const rej = await h.client.decideTemplateReview({
      name: a,
      decision: TemplateReviewStatus.REJECTED,
      rating: 2,
      comments: "too vague",
    });
    expect(rej.templateReview?.status).toBe(TemplateReviewStatus.REJECTED);
    expect(rej.template?.approvedVersion).toBe("");
    const b = await ask();
    const nc = await h.client.decideTemplateReview({
      name: b,
      decision: TemplateReviewStatus.NEEDS_CHANGES,
      comments: "add steps",
    });
    expect(nc.templateReview?.status).toBe(TemplateReviewStatus.NEEDS_CHANGES);
    expect(nc.templateReview?.rating).toBeUndefined();
    const render = (name: string) =>
      h.client.renderTemplate({ name, version: "1.0.0", inputs: { objective: "x" } });
    expect(notApproved(await failure(render(t.name), Code.FailedPrecondition))).toBe("TEMPLATE_NOT_APPROVED");
    // a template without requires_approval is always usable
    const free = await newTemplate(false);
    expect((await render(free.name)).output).toBe("Do x");
    await failure(render(`templates/${randomUUID()}`), Code.NotFound);
  });

  it("one of two concurrent decisions wins, the other is ABORTED or FAILED_PRECONDITION", async () => {
    const t = await newTemplate();
    const name = (
      await h.client.requestTemplateReview({ parent: t.name, templateReview: { version: "1.0.0" } })
    ).templateReview?.name as string;
    const results = await Promise.allSettled([
      h.client.decideTemplateReview({
        name,
        decision: TemplateReviewStatus.APPROVED,
        rating: 4,
        etag: 'W/"1"',
      }),
      h.client.decideTemplateReview({
        name,
        decision: TemplateReviewStatus.REJECTED,
        rating: 1,
        comments: "x",
        etag: 'W/"1"',
      }),
    ]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
  });

  it("rejects bad input with field violations", async () => {
    const t = await newTemplate();
    const bad = await failure(
      h.client.requestTemplateReview({
        parent: "templates/x",
        requestId: "nope",
        templateReview: {
          version: "01.2.3",
          reviewType: 0 as TemplateReviewType, // unset: allowed (an unknown number is refused by the request check)
          reviewer: "r".repeat(256),
          requestComments: "c".repeat(10_001),
        },
      }),
      Code.InvalidArgument,
    );
    expect(violatedFields(bad).sort()).toEqual(
      [
        "parent",
        "request_id",
        "template_review.request_comments",
        "template_review.reviewer",
        "template_review.version",
      ].sort(),
    );
    const none = await failure(h.client.requestTemplateReview({ parent: t.name }), Code.InvalidArgument);
    expect(violatedFields(none)).toEqual(["template_review"]);
    const v12 = await failure(
      h.client.requestTemplateReview({ parent: t.name, templateReview: { version: "1.2" } }),
      Code.InvalidArgument,
    );
    expect(violatedFields(v12)).toEqual(["template_review.version"]);
    await failure(
      h.client.requestTemplateReview({ parent: t.name, templateReview: { version: "7.0.0" } }),
      Code.NotFound,
    );
    await failure(
      h.client.requestTemplateReview({
        parent: `templates/${randomUUID()}`,
        templateReview: { version: "1.0.0" },
      }),
      Code.NotFound,
    );
    const name = `${t.name}/reviews/${randomUUID()}`;
    const dec = await failure(
      h.client.decideTemplateReview({
        name,
        decision: TemplateReviewStatus.PENDING,
        rating: 6,
        comments: "c".repeat(10_001),
      }),
      Code.InvalidArgument,
    );
    expect(violatedFields(dec).sort()).toEqual(["comments", "decision", "rating"]);
    const rej = await failure(
      h.client.decideTemplateReview({ name, decision: TemplateReviewStatus.REJECTED }),
      Code.InvalidArgument,
    );
    expect(violatedFields(rej).sort()).toEqual(["comments", "rating"]);
    await failure(
      h.client.decideTemplateReview({ name, decision: TemplateReviewStatus.APPROVED, rating: 3 }),
      Code.NotFound,
    );
    const n = await failure(
      h.client.getTemplateReview({ name: "templates/-/reviews/x" }),
      Code.InvalidArgument,
    );
    expect(violatedFields(n)).toEqual(["name"]);
    await failure(h.client.getTemplateReview({ name }), Code.NotFound);
  });
});

describe("GetTemplateReview / ListTemplateReviews", () => {
  it("is idempotent by request_id, gets, pages, filters and orders", async () => {
    const t = await newTemplate();
    const requestId = randomUUID();
    const first = await h.client.requestTemplateReview({
      parent: t.name,
      requestId,
      templateReview: { version: "1.0.0" },
    });
    const retry = await h.client.requestTemplateReview({
      parent: t.name,
      requestId,
      templateReview: { version: "1.0.0" },
    });
    expect(retry.templateReview?.name).toBe(first.templateReview?.name);
    for (const reviewType of [
      TemplateReviewType.SECURITY,
      TemplateReviewType.QUALITY,
      TemplateReviewType.SECURITY,
    ]) {
      await h.client.requestTemplateReview({
        parent: t.name,
        templateReview: { version: "1.0.0", reviewType },
      });
    }
    const got = await h.client.getTemplateReview({ name: first.templateReview?.name as string });
    expect(got.templateReview).toEqual(first.templateReview);
    const seen: string[] = [];
    let token = "";
    do {
      const page = await h.client.listTemplateReviews({ parent: t.name, pageSize: 3, pageToken: token });
      seen.push(...page.templateReviews.map((r) => r.name));
      token = page.nextPageToken;
    } while (token !== "");
    expect(seen).toHaveLength(4);
    expect(seen.at(-1)).toBe(first.templateReview?.name); // create_time desc
    const sec = await h.client.listTemplateReviews({
      parent: t.name,
      filter: "review_type = SECURITY AND status = PENDING",
    });
    expect(sec.templateReviews).toHaveLength(2);
    const asc = await h.client.listTemplateReviews({ parent: t.name, orderBy: "create_time asc" });
    expect(asc.templateReviews[0]?.name).toBe(first.templateReview?.name);
  });

  it('"templates/-" lists only reviews of templates the caller may read', async () => {
    const t = await newTemplate();
    await h.client.requestTemplateReview({ parent: t.name, templateReview: { version: "1.0.0" } });
    const mine = await h.client.listTemplateReviews({ parent: "templates/-", pageSize: 1000 });
    expect(mine.templateReviews.some((r) => r.name.startsWith(t.name))).toBe(true);
    const theirs = await h.as("mallory").listTemplateReviews({ parent: "templates/-", pageSize: 1000 });
    expect(theirs.templateReviews.some((r) => r.name.startsWith(t.name))).toBe(false);
    await failure(h.as("mallory").listTemplateReviews({ parent: t.name }), Code.NotFound);
  });

  it("rejects bad list input", async () => {
    const bad = await failure(
      h.client.listTemplateReviews({ parent: "templates/", pageSize: -5 }),
      Code.InvalidArgument,
    );
    expect(violatedFields(bad).sort()).toEqual(["page_size", "parent"]);
    const f = await failure(
      h.client.listTemplateReviews({ parent: "templates/-", filter: "status = maybe" }),
      Code.InvalidArgument,
    );
    expect(violatedFields(f)).toEqual(["filter"]);
    const o = await failure(
      h.client.listTemplateReviews({ parent: "templates/-", orderBy: "rating" }),
      Code.InvalidArgument,
    );
    expect(violatedFields(o)).toEqual(["order_by"]);
    const p = await failure(
      h.client.listTemplateReviews({ parent: "templates/-", pageToken: "zz" }),
      Code.InvalidArgument,
    );
    expect(violatedFields(p)).toEqual(["page_token"]);
    await failure(h.client.listTemplateReviews({ parent: `templates/${randomUUID()}` }), Code.NotFound);
  });
});
