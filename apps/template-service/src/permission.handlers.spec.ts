/** Grant/Get/List/Revoke template permissions end to end: real grpc-js server and PostgreSQL. */
import { randomUUID } from "node:crypto";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { TemplatePermissionLevel } from "@taskmaster/proto/gen/taskmaster/template/v1/collaboration_pb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { failure, type Harness, startHarness, uniq, violatedFields } from "./harness.test-util.js";

let h: Harness;
let tpl: string;
beforeAll(async () => {
  h = await startHarness();
  tpl = await newTemplate();
});
afterAll(async () => {
  await h?.close();
});

async function newTemplate(): Promise<string> {
  const res = await h.client.createTemplate({
    template: {
      slug: uniq("perm"),
      title: "Permissions",
      templateType: "templateTypes/prompt_instruction",
      content: "Do {{objective}}",
      variables: [{ name: "objective" }],
      parameters: { objective: "x" },
      active: true,
    },
  });
  return res.template?.name as string;
}

const READ = TemplatePermissionLevel.READ;

describe("GrantTemplatePermission", () => {
  it("grants to a user, role or team and reads the grant back", async () => {
    const expire = new Date(Date.now() + 86_400_000);
    const g = (
      await h.client.grantTemplatePermission({
        parent: tpl,
        templatePermission: {
          grantee: { case: "user", value: "bob" },
          permission: TemplatePermissionLevel.EXECUTE,
          expireTime: timestampFromDate(expire),
        },
      })
    ).templatePermission;
    expect(g?.name).toMatch(new RegExp(`^${tpl}/permissions/[0-9a-f-]{36}$`));
    expect(g?.grantee).toEqual({ case: "user", value: "bob" });
    expect(g?.permission).toBe(TemplatePermissionLevel.EXECUTE);
    expect(g?.grantedBy).toBe("alice");
    expect(Number(g?.expireTime?.seconds)).toBe(Math.floor(expire.getTime() / 1000));
    const got = await h.client.getTemplatePermission({ name: g?.name as string });
    expect(got.templatePermission).toEqual(g);
    for (const grantee of [
      { case: "role" as const, value: "writer" },
      { case: "team" as const, value: "チーム 'x'; drop table t; --" },
    ]) {
      const r = await h.client.grantTemplatePermission({
        parent: tpl,
        templatePermission: { grantee, permission: READ },
      });
      expect(r.templatePermission?.grantee).toEqual(grantee);
    }
  });

  it("is idempotent by request_id and refuses a duplicate live grant", async () => {
    const requestId = randomUUID();
    const req = {
      parent: tpl,
      requestId,
      templatePermission: { grantee: { case: "user" as const, value: "dup" }, permission: READ },
    };
    const a = await h.client.grantTemplatePermission(req);
    const b = await h.client.grantTemplatePermission(req);
    expect(b.templatePermission?.name).toBe(a.templatePermission?.name);
    await failure(h.client.grantTemplatePermission({ ...req, requestId: "" }), Code.AlreadyExists);
  });

  it("rejects bad input with field violations", async () => {
    const err = await failure(
      h.client.grantTemplatePermission({
        parent: "templates/nope",
        requestId: "not-a-uuid",
        templatePermission: {
          grantee: { case: "user", value: "x".repeat(256) },
          permission: 42 as TemplatePermissionLevel,
          expireTime: timestampFromDate(new Date(Date.now() - 1000)),
        },
      }),
      Code.InvalidArgument,
    );
    // The unknown enum number is refused by the request check (rpc-kit request-check.ts) before anything
    // else runs (the slug lookup of "templates/nope" would answer NOT_FOUND first otherwise).
    expect(violatedFields(err)).toEqual(["template_permission.permission"]);
    const missing = await failure(
      h.client.grantTemplatePermission({ parent: tpl, templatePermission: {} }),
      Code.InvalidArgument,
    );
    expect(violatedFields(missing).sort()).toEqual([
      "template_permission.grantee",
      "template_permission.permission",
    ]);
    const blank = await failure(
      h.client.grantTemplatePermission({
        parent: tpl,
        templatePermission: { grantee: { case: "role", value: "  " }, permission: READ },
      }),
      Code.InvalidArgument,
    );
    expect(violatedFields(blank)).toEqual(["template_permission.role"]);
    const none = await failure(h.client.grantTemplatePermission({ parent: tpl }), Code.InvalidArgument);
    expect(violatedFields(none)).toContain("template_permission");
  });

  it("is NOT_FOUND for an unknown template and PERMISSION_DENIED without ADMIN", async () => {
    const p = { grantee: { case: "user" as const, value: "z" }, permission: READ };
    await failure(
      h.client.grantTemplatePermission({ parent: `templates/${randomUUID()}`, templatePermission: p }),
      Code.NotFound,
    );
    await h.client.grantTemplatePermission({
      parent: tpl,
      templatePermission: { grantee: { case: "user", value: "reader" }, permission: READ },
    });
    await failure(
      h.as("reader").grantTemplatePermission({ parent: tpl, templatePermission: p }),
      Code.PermissionDenied,
    );
  });
});

describe("ListTemplatePermissions / RevokeTemplatePermission", () => {
  it("pages, filters, hides expired and revoked grants", async () => {
    const t = await newTemplate();
    for (let i = 0; i < 5; i++) {
      await h.client.grantTemplatePermission({
        parent: t,
        templatePermission: { grantee: { case: "user", value: `p${i}` }, permission: READ },
      });
    }
    await h.orm.em
      .fork()
      .getConnection()
      .execute(
        `insert into template_permissions (id, template_id, team, permission, granted_by, granted_at, expires_at)
         values (gen_random_uuid(), ?, 'old', 'read', 'alice', now() - interval '2 days', now() - interval '1 day')`,
        [t.split("/")[1]],
      );
    const names: string[] = [];
    let token = "";
    do {
      const page = await h.client.listTemplatePermissions({ parent: t, pageSize: 2, pageToken: token });
      expect(page.templatePermissions.length).toBeLessThanOrEqual(2);
      names.push(...page.templatePermissions.map((p) => p.name));
      token = page.nextPageToken;
    } while (token !== "");
    expect(names).toHaveLength(5);
    const withExpired = await h.client.listTemplatePermissions({ parent: t, showExpired: true });
    expect(withExpired.templatePermissions).toHaveLength(6);
    const filtered = await h.client.listTemplatePermissions({
      parent: t,
      filter: 'user = "p3" AND permission = READ',
    });
    expect(filtered.templatePermissions.map((p) => p.grantee.value)).toEqual(["p3"]);

    await h.client.revokeTemplatePermission({ name: names[0] as string });
    await failure(h.client.revokeTemplatePermission({ name: names[0] as string }), Code.NotFound);
    await failure(h.client.getTemplatePermission({ name: names[0] as string }), Code.NotFound);
    expect((await h.client.listTemplatePermissions({ parent: t })).templatePermissions).toHaveLength(4);
  });

  it("rejects bad list and revoke input", async () => {
    const bad = await failure(
      h.client.listTemplatePermissions({ parent: tpl, pageSize: -1, filter: "colour = red" }),
      Code.InvalidArgument,
    );
    expect(violatedFields(bad)).toEqual(["page_size"]);
    const f = await failure(
      h.client.listTemplatePermissions({ parent: tpl, filter: "permission = sudo" }),
      Code.InvalidArgument,
    );
    expect(violatedFields(f)).toEqual(["filter"]);
    const t = await failure(
      h.client.listTemplatePermissions({ parent: tpl, pageToken: "garbage" }),
      Code.InvalidArgument,
    );
    expect(violatedFields(t)).toEqual(["page_token"]);
    const n = await failure(
      h.client.revokeTemplatePermission({ name: `${tpl}/permissions/1` }),
      Code.InvalidArgument,
    );
    expect(violatedFields(n)).toEqual(["name"]);
    const e = await failure(h.client.getTemplatePermission({ name: "" }), Code.InvalidArgument);
    expect(violatedFields(e)).toEqual(["name"]);
    await failure(
      h.client.getTemplatePermission({ name: `${tpl}/permissions/${randomUUID()}` }),
      Code.NotFound,
    );
    const big = await h.client.listTemplatePermissions({ parent: tpl, pageSize: 5000 });
    expect(big.nextPageToken).toBe("");
  });
});
