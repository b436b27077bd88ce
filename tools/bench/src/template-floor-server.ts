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
import {
  create,
  type DescMessage,
  type DescMethod,
  fromBinary,
  type JsonObject,
  toBinary,
} from "@bufbuild/protobuf";
import { Server, ServerCredentials, type ServerUnaryCall, type sendUnaryData, status } from "@grpc/grpc-js";
import {
  TEMPLATE_FROM,
  TEMPLATE_SELECT_LIST,
  templateRowFromDb,
} from "@taskmaster/persistence/template.repository";
import {
  GetTemplateResponseSchema,
  RenderTemplateResponseSchema,
  TemplateService,
} from "@taskmaster/proto/gen/taskmaster/template/v1/template_service_pb";
import { templateToMessage } from "@taskmaster/template-service/template.mapper";
import Handlebars from "handlebars";
import pg from "pg";
import {
  BENCH_TEMPLATE_CONTENT,
  BENCH_TEMPLATE_PARAMETERS,
  BENCH_TEMPLATE_VARIABLES,
} from "./template-operations.js";

const pool = new pg.Pool({
  connectionString: process.env.DATABASE_URL,
  max: Number(process.env.POOL_MAX ?? 10),
});

const compiled = Handlebars.create().compile(BENCH_TEMPLATE_CONTENT, { strict: false, preventIndent: true });
const defaults: Record<string, unknown> = {};
for (const v of BENCH_TEMPLATE_VARIABLES) if (v.defaultValue) defaults[v.name] = v.defaultValue.kind.value;

type Handler = (request: unknown) => Promise<unknown>;

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

const server = new Server();
const definition: Record<string, unknown> = {};
const implementation: Record<string, unknown> = {};
for (const method of TemplateService.methods as readonly DescMethod[]) {
  const handler = handlers[method.name];
  if (!handler || method.methodKind !== "unary") continue;
  const input = method.input as DescMessage;
  const output = method.output as DescMessage;
  definition[method.name] = {
    path: `/${TemplateService.typeName}/${method.name}`,
    requestStream: false,
    responseStream: false,
    requestDeserialize: (bytes: Buffer) => fromBinary(input, bytes),
    responseSerialize: (message: Parameters<typeof toBinary>[1]) => Buffer.from(toBinary(output, message)),
  };
  implementation[method.name] = (
    call: ServerUnaryCall<unknown, unknown>,
    callback: sendUnaryData<unknown>,
  ) => {
    handler(call.request).then(
      (response) => callback(null, response),
      (error: { code?: number; message: string }) =>
        callback({ code: error.code ?? status.INTERNAL, details: error.message }),
    );
  };
}
// biome-ignore lint/suspicious/noExplicitAny: grpc-js' ServiceDefinition generics do not fit a runtime-built table
server.addService(definition as any, implementation as any);
server.bindAsync(`127.0.0.1:${process.env.PORT ?? 0}`, ServerCredentials.createInsecure(), (error, port) => {
  if (error) {
    process.stderr.write(`template floor: ${error.message}\n`);
    process.exit(1);
  }
  process.stdout.write(`listening ${port}\n`);
});
const stop = () => server.tryShutdown(() => void pool.end().then(() => process.exit(0)));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
