/**
 * Per-call values (e.g. one MikroORM EntityManager fork per RPC) as a Connect interceptor, so the same code
 * works in grpc-js (rpc-kit), connect-node and createRouterTransport. The kit does not know MikroORM.
 *
 * @example
 *   export const emKey = createContextKey<EntityManager | undefined>(undefined, { description: "em" });
 *   const interceptors = [perCallValue(emKey, () => orm.em.fork())];
 *   // handler: const em = ctx.values.get(emKey)!;
 */
import type { ContextKey, Interceptor, StreamRequest, UnaryRequest } from "@connectrpc/connect";

export function perCallValue<T>(
  key: ContextKey<T>,
  create: (req: UnaryRequest | StreamRequest) => T | Promise<T>,
  dispose?: (value: T) => void | Promise<void>,
): Interceptor {
  return (next) => async (req) => {
    const value = await create(req);
    req.contextValues.set(key, value);
    if (dispose === undefined) return next(req);
    let streaming = false;
    try {
      const res = await next(req);
      if (!res.stream) return res;
      streaming = true;
      const source = res.message;
      return {
        ...res,
        message: (async function* disposeAfterStream() {
          try {
            yield* source;
          } finally {
            await dispose(value);
          }
        })(),
      };
    } finally {
      if (!streaming) await dispose(value);
    }
  };
}
