/**
 * Retries on a real gRPC server that answers UNAVAILABLE a few times: the client waits the server's
 * RetryInfo delay when one is given, backs off otherwise, keeps the same request_id, and gives up after
 * maxAttempts with a TaskmasterError.
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { RetryInfoSchema } from "@taskmaster/proto/gen/google/rpc/error_details_pb";
import { TaskService } from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";
import {
  createGrpcServer,
  type GrpcServer,
  partialServiceRegistration,
} from "@taskmaster/rpc-kit/grpc-server";
import { createLogger } from "@taskmaster/telemetry/logger";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createTaskmasterClient } from "./client.js";
import { TaskmasterError } from "./errors.js";

let server: GrpcServer;
let baseUrl: string;
const state = { failuresLeft: 0, hintMs: undefined as number | undefined, requestIds: [] as string[] };

beforeAll(async () => {
  server = createGrpcServer({
    logger: createLogger({ service: "retry-test", level: "silent" }),
    reflection: false,
    services: [
      partialServiceRegistration(TaskService, {
        createTask(req) {
          state.requestIds.push(req.requestId);
          if (state.failuresLeft-- > 0) {
            const details =
              state.hintMs === undefined
                ? []
                : [
                    {
                      desc: RetryInfoSchema,
                      value: create(RetryInfoSchema, {
                        retryDelay: { seconds: 0n, nanos: state.hintMs * 1_000_000 },
                      }),
                    },
                  ];
            throw new ConnectError("overloaded", Code.Unavailable, undefined, details);
          }
          return {
            task: { name: "tasks/0190a0b0-0000-7000-8000-000000000001", title: req.task?.title ?? "" },
          };
        },
      }),
    ],
  });
  baseUrl = `http://127.0.0.1:${(await server.listen("127.0.0.1", 0)).port}`;
});
afterAll(async () => {
  await server?.shutdown(1_000);
});

it("waits the server's RetryInfo delay, keeps the request id and succeeds", async () => {
  Object.assign(state, { failuresLeft: 2, hintMs: 30, requestIds: [] });
  const waits: { delayMs: number; hinted: boolean }[] = [];
  const tm = createTaskmasterClient({ baseUrl, protocol: "grpc", retry: { onRetry: (i) => waits.push(i) } });
  const task = await tm.tasks.create({ title: "retried" });
  expect(task.title).toBe("retried");
  expect(waits.map((w) => [w.delayMs, w.hinted])).toEqual([
    [30, true],
    [30, true],
  ]);
  expect(state.requestIds).toHaveLength(3);
  expect(new Set(state.requestIds).size).toBe(1);
});

it("backs off without a hint and gives up after maxAttempts with a typed error", async () => {
  Object.assign(state, { failuresLeft: 10, hintMs: undefined, requestIds: [] });
  const waits: { delayMs: number; hinted: boolean }[] = [];
  const tm = createTaskmasterClient({
    baseUrl,
    protocol: "grpc",
    retry: { maxAttempts: 3, initialBackoffMs: 10, onRetry: (i) => waits.push(i) },
  });
  const error = await tm.tasks.create({ title: "never" }).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(TaskmasterError);
  expect((error as TaskmasterError).codeName).toBe("unavailable");
  expect(state.requestIds).toHaveLength(3);
  expect(waits.map((w) => w.hinted)).toEqual([false, false]);
  expect(waits[0]?.delayMs).toBeLessThanOrEqual(10);
  expect(waits[1]?.delayMs).toBeLessThanOrEqual(20);
});
