import type { Condition, Query } from "../../contract/types.js";
import type { Outcome } from "./decide.js";

// Where a write's condition (contract v3) stands among its rules, for every backend: the version
// decision comes first, so a retry of a stored write answers `duplicate` whatever the condition
// says now (its own events may match its query), an erased actor answers 410 and a version
// conflict 409 with `currentVersion`; only a write that would be stored goes on to the condition.

/** A write's outcome once its condition is taken into account: `position` is the newest matching event's. */
export type CheckedOutcome = Outcome | { kind: "condition"; position: number };

/** What a condition asks: is an event matching the query stored at a position greater than `after`? */
export interface ConditionCheck {
  query: Query;
  after: number;
}

/**
 * The check a write still has to pass before it is stored: none for a duplicate, a conflict, an
 * erased actor or a write without a condition; `after` defaults to 0 (before the first position).
 * The backend answers it exactly (by matchesQuery, never by a coarser filter): the newest matching
 * position found makes the outcome `{kind: "condition", position}`, none leaves it a write.
 */
export function conditionCheck(outcome: Outcome, condition: Condition | undefined): ConditionCheck | undefined {
  if (outcome.kind !== "write" || condition === undefined) return undefined;
  return { query: condition.failIfEventsMatch, after: condition.after ?? 0 };
}
