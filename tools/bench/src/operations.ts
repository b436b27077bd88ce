/** The benchmarked operations: method path, pre-encoded requests, and the target ratio from the issue. */
import { create, toBinary } from "@bufbuild/protobuf";
import {
  ClaimNextTaskRequestSchema,
  CreateTaskRequestSchema,
  GetTaskRequestSchema,
  ListTasksRequestSchema,
  SearchTasksRequestSchema,
  TaskService,
  UpdateTaskRequestSchema,
} from "@taskmaster/proto/gen/taskmaster/task/v1/task_service_pb";

export interface Operation {
  readonly name: string;
  readonly path: string;
  readonly requests: Uint8Array[];
  /** Minimum service/floor ratio we aim for. */
  readonly target?: number;
  /** Whether the floor server implements it (otherwise only the service is measured). */
  readonly hasFloor: boolean;
  /** Latency target for the service's p95, when the issue sets one. */
  readonly p95TargetMs?: number;
}

const path = (method: string) => `/${TaskService.typeName}/${method}`;

/** Queries over the generated titles/descriptions: common words, rarer pairs, a phrase. */
const SEARCHES = [
  "billing export",
  "webhook",
  "refactor permission cache",
  '"audit flow"',
  "sync upload edge cases",
];

/**
 * UpdateTask requests over the dedicated `updateIds` tasks: title only (`update_mask: title`, no etag). Twice as
 * many requests as tasks, so each round-robin pass gives every task a title different from its current one.
 */
function updateRequests(updateIds: readonly string[]): Uint8Array[] {
  return Array.from({ length: updateIds.length * 2 }, (_, i) =>
    toBinary(
      UpdateTaskRequestSchema,
      create(UpdateTaskRequestSchema, {
        task: { name: `tasks/${updateIds[i % updateIds.length]}`, title: `Benchmark update ${i % 3}` },
        updateMask: { paths: ["title"] },
      }),
    ),
  );
}

/** `updateIds`: tasks created for UpdateTask only (see `createUpdateTargets`), never the dataset's. */
export function operations(ids: readonly string[], updateIds: readonly string[] = []): Operation[] {
  return [
    {
      name: "GetTask",
      path: path("GetTask"),
      requests: ids.map((id) =>
        toBinary(GetTaskRequestSchema, create(GetTaskRequestSchema, { name: `tasks/${id}` })),
      ),
      target: 0.7,
      hasFloor: true,
    },
    {
      name: "CreateTask",
      path: path("CreateTask"),
      requests: Array.from({ length: 64 }, (_, i) =>
        toBinary(
          CreateTaskRequestSchema,
          create(CreateTaskRequestSchema, { task: { title: `Benchmark task number ${i}` } }),
        ),
      ),
      target: 0.6,
      hasFloor: true,
    },
    {
      name: "UpdateTask",
      path: path("UpdateTask"),
      requests: updateRequests(updateIds),
      hasFloor: false,
    },
    {
      name: "ListTasks(filter)",
      path: path("ListTasks"),
      requests: [
        toBinary(
          ListTasksRequestSchema,
          create(ListTasksRequestSchema, {
            filter: "status = IN_PROGRESS AND priority = HIGH",
            pageSize: 50,
          }),
        ),
      ],
      hasFloor: true,
    },
    {
      name: "SearchTasks",
      path: path("SearchTasks"),
      requests: SEARCHES.map((query) =>
        toBinary(SearchTasksRequestSchema, create(SearchTasksRequestSchema, { query, pageSize: 20 })),
      ),
      hasFloor: true,
      p95TargetMs: 20,
    },
    {
      name: "ClaimNextTask",
      path: path("ClaimNextTask"),
      requests: [toBinary(ClaimNextTaskRequestSchema, create(ClaimNextTaskRequestSchema, {}))],
      hasFloor: true,
    },
  ];
}
