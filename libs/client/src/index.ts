/** @taskmaster/client: the typed Taskmaster SDK. See README.md. */
export {
  createTaskmasterClient,
  type Protocol,
  type ServiceKey,
  type TaskmasterClient,
  type TaskmasterClientOptions,
  taskmasterInterceptors,
} from "./client.js";
export { type EnumInput, enumName, enumValue, type ShortName } from "./enums.js";
export {
  codeName,
  type ErrorCodeName,
  TaskmasterError,
  toTaskmasterError,
} from "./errors.js";
export type { Credentials, RetryOptions } from "./interceptors.js";
export { names } from "./names.js";
export { collect, paginate } from "./paginate.js";
export {
  maskOf,
  type TaskHelpers,
  type TaskInput,
  type TaskRef,
  type TimeLogInput,
  toTask,
} from "./task.helpers.js";
export type {
  TemplateHelpers,
  TemplateInput,
  TemplateRef,
  TemplateSearch,
  UsageInput,
} from "./template.helpers.js";
export { type WatchOptions, watchTasks } from "./watch.js";
