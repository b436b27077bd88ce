/**
 * Read-your-writes for the render-plan cache (render-plan.cache.ts): after any TemplateService RPC that may
 * change templates, versions, reviews, dependencies or types (every RPC but the reads and the renders), the
 * whole cache of THIS server is dropped before the response leaves, so the caller's next render through
 * this server sees its change without waiting for the change notification. Other servers rely on NOTIFY.
 */
import type { Interceptor } from "@connectrpc/connect";
import { TemplateService } from "@taskmaster/proto/gen/taskmaster/template/v1/template_service_pb";

/** RPCs that never change what a render reads. */
const READ_ONLY = /^(Get|List|Search|Diff)|^(RenderTemplate|CreateTaskFromTemplate|LogTemplateUsage)$/;

export function isPlanChangingMethod(method: string): boolean {
  return !READ_ONLY.test(method);
}

export function createRenderPlanInterceptor(invalidateAll: () => void): Interceptor {
  return (next) => async (req) => {
    if (req.service.typeName !== TemplateService.typeName || !isPlanChangingMethod(req.method.name)) {
      return next(req);
    }
    try {
      return await next(req);
    } finally {
      invalidateAll();
    }
  };
}
