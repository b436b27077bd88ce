/**
 * Template version reviews (SQL statements, plain rows out). A decision moves a PENDING review to approved,
 * rejected or needs_changes exactly once (optimistic lock on `version`); an approval also stamps the
 * template's approved_by/approved_at (bumping its version) in the same transaction.
 */
import type { EntityManager } from "@mikro-orm/core";
import { createOnce, replayRowId } from "./idempotency.js";
import { newId } from "./ids.js";
import { type ColumnSpec, type Condition, listKeysetPage, type Page } from "./list-page.js";
import { query, type RawBuilder, type Row, sql } from "./sql-toolkit.js";

export type TemplateReviewKind = "approval" | "quality" | "security" | "performance";
export type TemplateReviewState = "pending" | "approved" | "rejected" | "needs_changes";

export interface TemplateReviewRow {
  id: string;
  templateId: string;
  templateVersion: string;
  reviewType: TemplateReviewKind;
  status: TemplateReviewState;
  rating: number | null;
  requestComments: string | null;
  decisionComments: string | null;
  reviewer: string | null;
  requestedBy: string | null;
  decidedBy: string | null;
  decidedAt: Date | null;
  createdAt: Date;
  version: number;
}

const SELECT = `x.id, x.template_id, x.template_version, x.review_type, x.status, x.rating, x.request_comments,
  x.comments, x.reviewer, x.requested_by, x.decided_by, x.decided_at, x.created_at, x.version`;

const date = (v: unknown): Date => (v instanceof Date ? v : new Date(String(v)));

function rowFromDb(r: Record<string, unknown>): TemplateReviewRow {
  return {
    id: String(r.id),
    templateId: String(r.template_id),
    templateVersion: String(r.template_version),
    reviewType: r.review_type as TemplateReviewKind,
    status: r.status as TemplateReviewState,
    rating: r.rating === null || r.rating === undefined ? null : Number(r.rating),
    requestComments: (r.request_comments as string | null) ?? null,
    decisionComments: (r.comments as string | null) ?? null,
    reviewer: (r.reviewer as string | null) ?? null,
    requestedBy: (r.requested_by as string | null) ?? null,
    decidedBy: (r.decided_by as string | null) ?? null,
    decidedAt: r.decided_at === null || r.decided_at === undefined ? null : date(r.decided_at),
    createdAt: date(r.created_at),
    version: Number(r.version),
  };
}

export type ReviewFilterField = "status" | "review_type" | "version" | "reviewer";
export type ReviewSortField = "create_time" | "decide_time";

const COLUMNS: Record<ReviewFilterField | ReviewSortField, ColumnSpec> = {
  status: { expr: "x.status", cast: "text" },
  review_type: { expr: "x.review_type", cast: "text" },
  version: { expr: "x.template_version", cast: "text" },
  reviewer: { expr: "x.reviewer", cast: "text" },
  create_time: { expr: "x.created_at", cast: "timestamptz" },
  decide_time: { expr: "x.decided_at", cast: "timestamptz" },
};

export class TemplateReviewRepository {
  constructor(readonly em: EntityManager) {}

  transactional<T>(fn: (repo: TemplateReviewRepository) => Promise<T>): Promise<T> {
    return this.em.transactional((tx) => fn(new TemplateReviewRepository(tx)));
  }

  /** Whether the template has this version (deleted templates included). */
  async versionExists(templateId: string, version: string): Promise<boolean> {
    const rows = await query(
      this.em,
      sql<Row>`select 1 from template_versions where template_id = ${templateId}::uuid and version = ${version}::text`,
    );
    return rows.length > 0;
  }

  async get(
    templateId: string,
    id: string,
    opts: { forUpdate?: boolean } = {},
  ): Promise<TemplateReviewRow | null> {
    const rows = await query(
      this.em,
      sql<Row>`select ${sql.raw(SELECT)} from template_reviews x
       where x.template_id = ${templateId}::uuid and x.id = ${id}::uuid${sql.raw(opts.forUpdate ? " for update" : "")}`,
    );
    return rows[0] ? rowFromDb(rows[0]) : null;
  }

  /** The review created by a RequestTemplateReview with this request id, if any. */
  async findByRequestId(requestId: string): Promise<TemplateReviewRow | null> {
    const rows = await query(
      this.em,
      sql<Row>`select ${sql.raw(SELECT)} from idempotency_keys k join template_reviews x on x.id = k.resource_id::uuid
       where k.scope = 'template.review.request' and k.request_id = ${requestId}::text`,
    );
    return rows[0] ? rowFromDb(rows[0]) : null;
  }

  /**
   * Inserts a pending review. With `requestId` it runs once per request id (createOnce, scope
   * `template.review.request`): a retry, even a concurrent one, gets the id of the review the first call
   * created.
   */
  async insert(r: {
    templateId: string;
    templateVersion: string;
    reviewType: TemplateReviewKind;
    reviewer: string | null;
    requestComments: string | null;
    requestedBy: string;
    requestId: string | null;
  }): Promise<string> {
    return createOnce<string>(this.em, {
      scope: "template.review.request",
      requestId: r.requestId,
      replay: replayRowId("template_reviews"),
      create: async (tx) => {
        const id = newId();
        await query(
          tx,
          sql`insert into template_reviews (id, template_id, template_version, review_type, status, reviewer,
             requested_by, request_comments)
           values (${id}, ${r.templateId}, ${r.templateVersion}, ${r.reviewType}, 'pending', ${r.reviewer},
             ${r.requestedBy}, ${r.requestComments})`,
        );
        return { result: id, resourceId: id };
      },
    });
  }

  /**
   * Decides a pending review at `expectedVersion`; false when it changed meanwhile (or is no longer
   * pending). On approval also stamps the template (approved_by/approved_at, version + 1).
   */
  async decide(d: {
    templateId: string;
    id: string;
    expectedVersion: number;
    status: Exclude<TemplateReviewState, "pending">;
    rating: number | null;
    comments: string | null;
    decidedBy: string;
  }): Promise<boolean> {
    const rows = await query(
      this.em,
      sql<Row>`update template_reviews set status = ${d.status}, rating = ${d.rating}, comments = ${d.comments},
         decided_by = ${d.decidedBy}, decided_at = now(), updated_at = now(), version = version + 1
       where template_id = ${d.templateId}::uuid and id = ${d.id}::uuid and version = ${d.expectedVersion}::int
         and status = 'pending' returning id`,
    );
    if (rows.length === 0) return false;
    if (d.status === "approved") {
      await query(
        this.em,
        sql`update templates set approved_by = ${d.decidedBy}, approved_at = now(), version = version + 1,
           updated_at = now()
         where id = ${d.templateId}::uuid`,
      );
    }
    return true;
  }

  /**
   * Reviews of one template (`templateId`) or of every template satisfying `visible` (a condition over
   * alias `t`, the review's template).
   */
  async list(q: {
    templateId: string | null;
    visible: RawBuilder<unknown> | null;
    pageSize: number;
    pageToken: string | null;
    conditions: Condition<ReviewFilterField>[];
    orderBy: { field: ReviewSortField; desc: boolean };
    binding: string;
  }): Promise<Page<TemplateReviewRow>> {
    const where: RawBuilder<unknown>[] = [];
    if (q.templateId !== null) where.push(sql`x.template_id = ${q.templateId}::uuid`);
    if (q.visible !== null) where.push(sql`(${q.visible})`);
    return listKeysetPage(
      this.em,
      {
        selectList: SELECT,
        from: "template_reviews x join templates t on t.id = x.template_id",
        where,
        columns: COLUMNS,
        map: rowFromDb,
      },
      {
        pageSize: q.pageSize,
        pageToken: q.pageToken,
        conditions: q.conditions,
        orderBy: q.orderBy,
        binding: q.binding,
      },
    );
  }
}
