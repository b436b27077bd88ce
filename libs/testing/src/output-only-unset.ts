/**
 * OUTPUT_ONLY fields no spec scenario sets, on purpose, each with the reason. The coverage check
 * (output-coverage.ts) fails on an unset field missing here and on a listed field a scenario sets.
 */
export const INTENTIONALLY_UNSET: Readonly<Record<string, string>> = {};
