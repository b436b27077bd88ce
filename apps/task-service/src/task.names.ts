/** Resource names of the task API (AIP-122). */
export const TASK_PATTERN = "tasks/{task}";
export const SPRINT_PATTERN = "sprints/{sprint}";
export const RELEASE_PATTERN = "releases/{release}";
export const MILESTONE_PATTERN = "milestones/{milestone}";

export function taskName(id: string): string {
  return `tasks/${id}`;
}
