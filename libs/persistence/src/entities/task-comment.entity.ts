import { defineEntity, type InferEntity, p } from "@mikro-orm/core";
import { inSet } from "../sql-checks.js";
import { COMMENT_TYPES, type CommentType } from "../value-sets.js";
import { idProperty, lifecycleProperties } from "./common.js";
import { Task } from "./task.entity.js";

/** Threaded comment on a task (replies point at their parent); soft deleted. */
export const TaskComment = defineEntity({
  name: "TaskComment",
  tableName: "task_comments",
  properties: {
    id: idProperty(),
    task: () => p.manyToOne(Task).ref().deleteRule("cascade"),
    parent: () => p.manyToOne(TaskComment).ref().nullable().deleteRule("cascade"),
    author: p.string().length(255),
    content: p.text(),
    type: p.string().length(16).$type<CommentType>().default("general"),
    isInternal: p.boolean().default(false),
    ...lifecycleProperties(),
  },
  checks: [
    { name: "task_comments_type_check", expression: inSet("type", COMMENT_TYPES) },
    { name: "task_comments_content_check", expression: "char_length(content) between 1 and 65536" },
    { name: "task_comments_author_check", expression: "char_length(btrim(author)) >= 1" },
    { name: "task_comments_parent_not_self_check", expression: "parent_id is null or parent_id <> id" },
  ],
  indexes: [
    { name: "task_comments_task_created_idx", properties: ["task", "createdAt"] },
    { name: "task_comments_parent_idx", properties: ["parent"] },
  ],
});

export type ITaskComment = InferEntity<typeof TaskComment>;
