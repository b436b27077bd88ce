/**
 * Slugs as aliases of template names: "templates/feature_implementation" (and its sub-resources,
 * "templates/feature_implementation/versions/1.0.0", ...) is accepted wherever a template name is, on every
 * TemplateService RPC. Before any other interceptor (authorization included) sees the request, every
 * resource-name field of it (fields called `name` or `parent`, and fields with a `resource_reference`,
 * found from the descriptors, nested messages and lists included) whose template segment is a slug is
 * rewritten to the canonical "templates/{uuid}" form, so handlers, authorization and the render-plan cache
 * only ever see UUIDs. One query per request that uses slugs; requests with UUIDs cost nothing extra.
 * An unknown slug is NOT_FOUND naming the template as the caller wrote it. Responses always carry the
 * canonical UUID names.
 */
import type { DescField, DescMessage, Message } from "@bufbuild/protobuf";
import { hasOption } from "@bufbuild/protobuf";
import { isReflectList, isReflectMessage, type ReflectMessage, reflect } from "@bufbuild/protobuf/reflect";
import type { Interceptor } from "@connectrpc/connect";
import type { MikroORM } from "@mikro-orm/postgresql";
import { TemplateRepository } from "@taskmaster/persistence/template.repository";
import { resource_reference } from "@taskmaster/proto/gen/google/api/resource_pb";
import { TemplateService } from "@taskmaster/proto/gen/taskmaster/template/v1/template_service_pb";
import { NotFoundError } from "@taskmaster/rpc-kit/errors";

/** "templates/<slug>" with an optional sub-resource path; a slug never looks like a UUID (no hyphens). */
const SLUG_NAME = /^templates\/([a-z][a-z0-9_]{2,99})(\/.*)?$/;
const MAX_DEPTH = 8;

/** Resource-name fields of a message type (by descriptor), cached per type for the life of the server. */
function nameFields(desc: DescMessage, cache: Map<string, DescField[]>): DescField[] {
  let fields = cache.get(desc.typeName);
  if (fields === undefined) {
    fields = desc.fields.filter(
      (f) =>
        f.message !== undefined ||
        (f.scalar !== undefined &&
          (f.name === "name" || f.name === "parent" || hasOption(f, resource_reference))),
    );
    cache.set(desc.typeName, fields);
  }
  return fields;
}

interface Slot {
  slug: string;
  rest: string;
  assign: (name: string) => void;
}

function collect(msg: ReflectMessage, cache: Map<string, DescField[]>, out: Slot[], depth: number): void {
  if (depth > MAX_DEPTH) return;
  for (const field of nameFields(msg.desc, cache)) {
    if (!msg.isSet(field)) continue;
    if (field.fieldKind === "scalar") {
      const value = msg.get(field);
      const m = typeof value === "string" ? SLUG_NAME.exec(value) : null;
      if (m) out.push({ slug: m[1] as string, rest: m[2] ?? "", assign: (v) => msg.set(field, v) });
    } else if (field.fieldKind === "message") {
      const sub = msg.get(field);
      if (isReflectMessage(sub)) collect(sub, cache, out, depth + 1);
    } else if (field.fieldKind === "list") {
      const list = msg.get(field);
      if (!isReflectList(list)) continue;
      for (let i = 0; i < list.size; i++) {
        const item = list.get(i);
        if (field.listKind === "message" && isReflectMessage(item)) collect(item, cache, out, depth + 1);
        else if (field.listKind === "scalar" && typeof item === "string" && field.name !== "tags") {
          const m = SLUG_NAME.exec(item);
          if (m && (field.name === "names" || hasOption(field, resource_reference))) {
            out.push({ slug: m[1] as string, rest: m[2] ?? "", assign: (v) => list.set(i, v) });
          }
        }
      }
    }
  }
}

export function createTemplateSlugInterceptor(orm: MikroORM): Interceptor {
  const cache = new Map<string, DescField[]>();
  return (next) => async (req) => {
    if (req.service.typeName !== TemplateService.typeName || req.stream) return next(req);
    const slots: Slot[] = [];
    collect(reflect(req.method.input, req.message as Message), cache, slots, 0);
    if (slots.length === 0) return next(req);
    const slugs = [...new Set(slots.map((s) => s.slug))];
    const ids = await new TemplateRepository(orm.em.fork()).idsBySlug(slugs);
    for (const s of slots) {
      const id = ids.get(s.slug);
      if (id === undefined) throw new NotFoundError("template", `templates/${s.slug}`);
      s.assign(`templates/${id}${s.rest}`);
    }
    return next(req);
  };
}
