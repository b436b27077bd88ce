/**
 * Attachment request validation and the MIME rule.
 *
 * MIME rule: the declared `mime_type` must be a syntactically valid `type/subtype` (RFC 6838 tokens,
 * compared lower-case, parameters not allowed). Then:
 * 1. If the content starts with a known signature (PNG, JPEG, GIF, WebP, PDF, ZIP, GZIP), the declared
 *    type must be that type (ZIP also accepts the ZIP-based office/epub/jar types).
 * 2. Otherwise the declared type must not be one of those signature types (a "PDF" without %PDF- is refused).
 * 3. If the filename's extension is a known one, the declared type must be one of that extension's types
 *    (e.g. `.txt` -> text/plain; `.json` -> application/json or text/plain). Unknown extensions pass.
 * 4. Declared text types (text/*, application/json, application/xml, image/svg+xml) must not contain NUL
 *    bytes in the first 8 KiB.
 * Any failure is INVALID_ARGUMENT on `metadata.attachment.mime_type`.
 */
import type { Attachment } from "@taskmaster/proto/gen/taskmaster/task/v1/collaboration_pb";
import type {
  AttachmentUploadMetadata,
  ListAttachmentsRequest,
} from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import { InvalidArgumentError } from "@taskmaster/rpc-kit/errors";
import { parseResourceName, validator } from "@taskmaster/rpc-kit/validation";
import { TASK_PATTERN } from "./task.names.js";

export const ATTACHMENT_PATTERN = "tasks/{task}/attachments/{attachment}";
export const MAX_CHUNK_BYTES = 1024 * 1024;
const MIME = /^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$/;
const SHA256 = /^[0-9a-f]{64}$/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what is refused
const BAD_FILENAME = /[\u0000-\u001f\u007f/\\]/;

export interface UploadMetadata {
  taskId: string;
  filename: string;
  fileType: string | null;
  mimeType: string;
  description: string | null;
  isPublic: boolean;
  declaredSize: bigint | undefined;
  sha256: string | null;
  requestId: string | null;
}

const M = "metadata";

export function validateUploadMetadata(
  meta: AttachmentUploadMetadata | undefined,
  maxBytes: number,
): UploadMetadata {
  const v = validator();
  if (meta === undefined) {
    v.add(M, "the first message must carry metadata", "REQUIRED");
    v.check();
    throw new Error("unreachable");
  }
  const taskId = v.resourceName(`${M}.parent`, TASK_PATTERN, meta.parent);
  const a: Attachment | undefined = meta.attachment;
  v.required(`${M}.attachment`, a);
  const filename = a?.filename ?? "";
  const mimeType = (a?.mimeType ?? "").trim().toLowerCase();
  if (a !== undefined) {
    if (v.required(`${M}.attachment.filename`, filename)) {
      v.length(`${M}.attachment.filename`, filename, 1, 255);
      if (!v.has(`${M}.attachment.filename`) && BAD_FILENAME.test(filename)) {
        v.add(
          `${M}.attachment.filename`,
          "must not contain path separators or control characters",
          "INVALID_FORMAT",
        );
      }
      if (!v.has(`${M}.attachment.filename`) && (filename === "." || filename === "..")) {
        v.add(`${M}.attachment.filename`, "must be a file name", "INVALID_FORMAT");
      }
    }
    if (v.required(`${M}.attachment.mime_type`, mimeType)) {
      v.pattern(`${M}.attachment.mime_type`, mimeType, MIME, 'must be a MIME type "type/subtype"');
    }
    v.maxLength(`${M}.attachment.description`, a.description, 2000);
    if (a.description.includes("\0"))
      v.add(`${M}.attachment.description`, "must not contain NUL characters", "INVALID_CHARACTER");
  }
  if (meta.sizeBytes !== undefined) {
    v.range(`${M}.size_bytes`, meta.sizeBytes, 0n, BigInt(Number.MAX_SAFE_INTEGER));
  }
  v.pattern(`${M}.sha256`, meta.sha256, SHA256, "must be 64 lower-case hex characters");
  v.uuid(`${M}.request_id`, meta.requestId);
  const fileType = extensionOf(filename);
  if (!v.has(`${M}.attachment.mime_type`) && !v.has(`${M}.attachment.filename`) && mimeType !== "") {
    const allowed = fileType === null ? undefined : EXTENSIONS[fileType];
    if (allowed !== undefined && !allowed.includes(mimeType)) {
      v.add(
        `${M}.attachment.mime_type`,
        `does not match the file extension ".${fileType}" (expected ${allowed.join(" or ")})`,
        "MIME_TYPE_MISMATCH",
      );
    }
  }
  v.check();
  if (meta.sizeBytes !== undefined && meta.sizeBytes > BigInt(maxBytes)) {
    throw new SizeLimitExceeded(maxBytes);
  }
  return {
    taskId: taskId as string,
    filename,
    fileType,
    mimeType,
    description: a?.description ? a.description : null,
    isPublic: a?.public ?? false,
    declaredSize: meta.sizeBytes,
    sha256: meta.sha256 === "" ? null : meta.sha256,
    requestId: meta.requestId === "" ? null : meta.requestId,
  };
}

/** Marker thrown when an upload is larger than the limit (mapped to RESOURCE_EXHAUSTED). */
export class SizeLimitExceeded extends Error {
  constructor(readonly maxBytes: number) {
    super(`attachment exceeds the size limit of ${maxBytes} bytes`);
  }
}

/** Lower-case extension without the dot (max 50 characters), or null. */
export function extensionOf(filename: string): string | null {
  const dot = filename.lastIndexOf(".");
  if (dot <= 0 || dot === filename.length - 1) return null;
  const ext = filename.slice(dot + 1).toLowerCase();
  return /^[a-z0-9]{1,50}$/.test(ext) ? ext : null;
}

const ZIP_FAMILY = [
  "application/zip",
  "application/x-zip-compressed",
  "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
  "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
  "application/vnd.openxmlformats-officedocument.presentationml.presentation",
  "application/vnd.oasis.opendocument.text",
  "application/vnd.oasis.opendocument.spreadsheet",
  "application/epub+zip",
  "application/java-archive",
];

const EXTENSIONS: Record<string, readonly string[]> = {
  png: ["image/png"],
  jpg: ["image/jpeg"],
  jpeg: ["image/jpeg"],
  gif: ["image/gif"],
  webp: ["image/webp"],
  pdf: ["application/pdf"],
  zip: ["application/zip", "application/x-zip-compressed"],
  gz: ["application/gzip", "application/x-gzip"],
  txt: ["text/plain"],
  log: ["text/plain"],
  md: ["text/markdown", "text/plain"],
  csv: ["text/csv", "text/plain"],
  json: ["application/json", "text/plain"],
  html: ["text/html"],
  svg: ["image/svg+xml"],
  docx: ["application/vnd.openxmlformats-officedocument.wordprocessingml.document"],
  xlsx: ["application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"],
};

const SIGNATURES: readonly { types: readonly string[]; name: string; test: (b: Buffer) => boolean }[] = [
  {
    name: "image/png",
    types: ["image/png"],
    test: (b) => b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])),
  },
  {
    name: "image/jpeg",
    types: ["image/jpeg"],
    test: (b) => b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff,
  },
  {
    name: "image/gif",
    types: ["image/gif"],
    test: (b) => /^GIF8[79]a/.test(b.subarray(0, 6).toString("latin1")),
  },
  {
    name: "image/webp",
    types: ["image/webp"],
    test: (b) =>
      b.subarray(0, 4).toString("latin1") === "RIFF" && b.subarray(8, 12).toString("latin1") === "WEBP",
  },
  {
    name: "application/pdf",
    types: ["application/pdf"],
    test: (b) => b.subarray(0, 5).toString("latin1") === "%PDF-",
  },
  {
    name: "application/zip",
    types: ZIP_FAMILY,
    test: (b) => b.length >= 4 && b[0] === 0x50 && b[1] === 0x4b && (b[2] === 3 || b[2] === 5 || b[2] === 7),
  },
  {
    name: "application/gzip",
    types: ["application/gzip", "application/x-gzip"],
    test: (b) => b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b,
  },
];
const SIGNATURE_TYPES = new Set(SIGNATURES.flatMap((s) => s.types));
const TEXTUAL = (t: string) =>
  t.startsWith("text/") || t === "application/json" || t === "application/xml" || t === "image/svg+xml";

/** Checks the declared type against the content's first bytes (rules 1, 2 and 4 above). */
export function checkContentType(declared: string, head: Buffer): void {
  const field = `${M}.attachment.mime_type`;
  const sniffed = SIGNATURES.find((s) => s.test(head));
  let problem: string | undefined;
  if (sniffed !== undefined && !sniffed.types.includes(declared)) {
    problem = `does not match the content, which looks like ${sniffed.name}`;
  } else if (sniffed === undefined && SIGNATURE_TYPES.has(declared)) {
    problem = `does not match the content (no ${declared} signature)`;
  } else if (TEXTUAL(declared) && head.includes(0)) {
    problem = "is a text type but the content is binary";
  }
  if (problem !== undefined)
    throw new InvalidArgumentError(
      [{ field, description: problem, reason: "MIME_TYPE_MISMATCH" }],
      undefined,
      "MIME_TYPE_REJECTED",
    );
}

function attachmentName(
  v: ReturnType<typeof validator>,
  field: string,
  name: string,
): { taskId: string; attachmentId: string } {
  if (!v.required(field, name)) return { taskId: "", attachmentId: "" };
  const parsed = parseResourceName(ATTACHMENT_PATTERN, name);
  if (!parsed.ok) {
    v.add(field, parsed.description, "INVALID_RESOURCE_NAME");
    return { taskId: "", attachmentId: "" };
  }
  return { taskId: parsed.ids.task as string, attachmentId: parsed.ids.attachment as string };
}

export function validateAttachmentName(name: string): { taskId: string; attachmentId: string } {
  const v = validator();
  const ids = attachmentName(v, "name", name);
  v.check();
  return ids;
}

export function validateDownload(
  name: string,
  chunkSize: number,
): { taskId: string; attachmentId: string; chunkSize: number } {
  const v = validator();
  const ids = attachmentName(v, "name", name);
  v.range("chunk_size", chunkSize, 0, MAX_CHUNK_BYTES);
  v.check();
  return { ...ids, chunkSize: chunkSize === 0 ? 64 * 1024 : chunkSize };
}

export function validateListAttachments(req: ListAttachmentsRequest): {
  taskId: string;
  pageSize: number;
  desc: boolean;
} {
  const v = validator();
  const taskId = v.resourceName("parent", TASK_PATTERN, req.parent);
  const pageSize = v.pageSize("page_size", req.pageSize);
  if (req.filter.trim() !== "") v.add("filter", "filtering attachments is not supported yet", "UNSUPPORTED");
  const order = req.orderBy.trim();
  const match = /^create_time(\s+(asc|desc))?$/.exec(order);
  if (order !== "" && !match) v.add("order_by", "supported: create_time [asc|desc]", "UNSUPPORTED");
  v.check();
  return { taskId: taskId as string, pageSize, desc: match?.[2] === "desc" };
}
