/** The relationship types' algebra: each type's inverse and which types are precedence edges. */
import type { RelationshipType } from "./value-sets.js";

export const INVERSE_TYPE: Readonly<Record<RelationshipType, RelationshipType>> = {
  blocks: "blocked_by",
  blocked_by: "blocks",
  depends_on: "dependency_of",
  dependency_of: "depends_on",
  relates_to: "relates_to",
  duplicates: "duplicated_by",
  duplicated_by: "duplicates",
  parent_of: "child_of",
  child_of: "parent_of",
  follows: "precedes",
  precedes: "follows",
  conflicts_with: "conflicts_with",
};

/** Types whose rows are precedence edges (source before target) once the inverse is considered. */
const PRECEDENCE_SOURCE_FIRST: readonly RelationshipType[] = ["blocks", "dependency_of", "precedes"];
const PRECEDENCE_TARGET_FIRST: readonly RelationshipType[] = ["blocked_by", "depends_on", "follows"];
/** The precedence-edge types as a SQL list, for `type in ${PRECEDENCE_SQL}` (a declared constant). */
export const PRECEDENCE_SQL = `('blocks', 'dependency_of', 'precedes')`;

/** For a precedence-family type, the new edge as (before, after); `null` for the other types. */
export function precedenceEdge(
  type: RelationshipType,
  source: string,
  target: string,
): { before: string; after: string } | null {
  if (PRECEDENCE_SOURCE_FIRST.includes(type)) return { before: source, after: target };
  if (PRECEDENCE_TARGET_FIRST.includes(type)) return { before: target, after: source };
  return null;
}

/** SQL of the inverse of the type held by `column` (a column expression written in the code): a `case`. */
export function inverseCaseSql(column: "r.type" | "x.type"): string {
  return `case ${column} ${Object.entries(INVERSE_TYPE)
    .map(([t, i]) => `when '${t}' then '${i}'`)
    .join(" ")} end`;
}
