// The seed's usage examples with @taskmaster/client, against a running stack (`./taskmaster start`), then the
// template rendered and a task created from it. Run: ./taskmaster example seed-usage [--gateway URL]
import { createTaskmasterClient } from "@taskmaster/client";

const tm = createTaskmasterClient({ baseUrl: process.env.TASKMASTER_GATEWAY ?? "http://127.0.0.1:8080" });

// storeAtomicTask: an enhanced task, enums by their short names
const task = await tm.tasks.create({
  title: "Implement user authentication",
  description: "Add JWT-based authentication with refresh tokens",
  type: "feature",
  priority: "high",
  complexity: "complex",
  storyPoints: 8,
  businessValue: 9,
  estimatedHours: 16,
  acceptanceCriteria: [
    "Users can register with email and password",
    "Users can log in and receive a JWT token",
    "Protected routes require a valid token",
  ],
  technicalNotes: "Use bcrypt for password hashing",
  securityRequirements: { encryption: "AES-256", tokenExpiry: "24h" },
});

// updateTaskStatus and logTime
await tm.tasks.setStatus(task, "in_progress");
const log = await tm.tasks.logTime(task, { hours: 2.5, activity: "Initial research", date: new Date() });

// storeTemplate: a Handlebars task template (slugs are unique: the suffix makes the example re-runnable)
const template = await tm.templates.create({
  slug: `feature_implementation_${Date.now().toString(36)}`,
  title: "Feature Implementation Template",
  description: "Standard template for implementing new features",
  type: "task_template",
  content: `# {{feature_name}}

## Requirements
{{#each requirements}}- {{this}}
{{/each}}
## Acceptance criteria
{{#each acceptance_criteria}}- [ ] {{this}}
{{/each}}
## Notes
{{technical_notes}}`,
  variables: ["feature_name", "requirements", "acceptance_criteria", "technical_notes"],
  tags: ["feature", "development", "standard"],
});

// searchTemplates and logTemplateUsage
const found = await tm.templates.search({ type: "task_template", tags: ["feature"], active: true });
await tm.templates.logUsage(template, { task, usedBy: "codegen-agent", executionTime: 150, success: true });

// Beyond the seed: render the template, and create a task from it
const inputs = {
  feature_name: "Password reset",
  requirements: ["Email a one-time link", "Link expires after 1 hour"],
  acceptance_criteria: ["Reset works end to end", "Old password stops working"],
  technical_notes: "Reuse the mailer service",
};
const rendered = await tm.templates.render(template, inputs);
const fromTemplate = await tm.templates.createTask(template, inputs, { title: "Implement password reset" });

console.log(`task           ${task.name}  (${task.title}, ${log.hours} h logged)`);
console.log(`template       ${template.name}  (v${template.version}, ${found.length} found by search)`);
console.log(`task from it   ${fromTemplate.task.name}  (${fromTemplate.task.title})`);
console.log(`rendered:\n${rendered.output}`);
