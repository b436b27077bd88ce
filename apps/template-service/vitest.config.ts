import { defineConfig } from "vitest/config";
import { serviceTestConfig } from "../../vitest.shared.js";

export default defineConfig(serviceTestConfig(import.meta.dirname, { outputCoverage: true }));
