#!/usr/bin/env node
/**
 * The floor of the TemplateService benchmark: a bare grpc-js server with two handlers.
 *   - RenderTemplate: renders the benchmark template (template-operations.ts), compiled ONCE at start with the
 *     service's compile and runtime options, over the same context (parameters, then defaults, then inputs).
 *     No database, no validation, no usage log: pure decode + Handlebars + encode.
 *   - GetTemplate: the service's template read (same SQL and row mapping) with a raw `pg` prepared statement,
 *     encoded as the same message. No authorization query.
 *
 * Env: DATABASE_URL, PORT (0 = any; the bound port is printed as `listening <port>`), POOL_MAX.
 */
import { create, type JsonObject } from "@bufbuild/protobuf";
import { status } from "@grpc/grpc-js";
import {
  TEMPLATE_FROM,
  TEMPLATE_SELECT_LIST,
  templateRowFromDb,
} from "@taskmaster/persistence/template-row.mapper";
import {
  GetTemplateResponseSchema,
  RenderTemplateResponseSchema,
  TemplateService,
} from "@taskmaster/proto/gen/taskmaster/template/v1/template_service_pb";
import { templateToMessage } from "@taskmaster/template-service/template.mapper";
import Handlebars from "handlebars";
import { floorPool, type Handler, serveFloor } from "./grpc-floor.js";
import {
  BENCH_TEMPLATE_CONTENT,
  BENCH_TEMPLATE_PARAMETERS,
  BENCH_TEMPLATE_VARIABLES,
} from "./template-operations.js";

const pool = floorPool();

const compiled = Handlebars.create().compile(BENCH_TEMPLATE_CONTENT, { strict: false, preventIndent: true });
const defaults: Record<string, unknown> = {};
for (const v of BENCH_TEMPLATE_VARIABLES) if (v.defaultValue) defaults[v.name] = v.defaultValue.kind.value;

const handlers: Record<string, Handler> = {
  async RenderTemplate(request) {
    const inputs = ((request as { inputs?: JsonObject }).inputs ?? {}) as Record<string, unknown>;
    const output = compiled(
      { ...BENCH_TEMPLATE_PARAMETERS, ...defaults, ...inputs },
      {
        allowProtoPropertiesByDefault: false,
        allowProtoMethodsByDefault: false,
        allowCallsToHelperMissing: false,
      },
    );
    return create(RenderTemplateResponseSchema, { output, version: "1.0.0" });
  },

  async GetTemplate(request) {
    const id = (request as { name: string }).name.slice("templates/".length);
    const result = await pool.query({
      name: "floor_get_template",
      text: `select ${TEMPLATE_SELECT_LIST} from ${TEMPLATE_FROM} where x.id = $1`,
      values: [id],
    });
    const row = result.rows[0];
    if (!row) throw Object.assign(new Error("not found"), { code: status.NOT_FOUND });
    return create(GetTemplateResponseSchema, { template: templateToMessage(templateRowFromDb(row)) });
  },
};

serveFloor("template floor", TemplateService, handlers, pool);
