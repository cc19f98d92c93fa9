import { describe, expect, it } from "vitest";
import type { Condition } from "../../src/contract/types.js";
import { conditionCheck } from "../../src/server/store/condition.js";
import type { Outcome } from "../../src/server/store/decide.js";

const query: Condition["failIfEventsMatch"] = { items: [{ tags: ["course:c1"] }] };

describe("conditionCheck", () => {
  it("asks a write with a condition for matches after `after`, 0 when it has none", () => {
    expect(conditionCheck({ kind: "write" }, { failIfEventsMatch: query })).toEqual({ query, after: 0 });
    expect(conditionCheck({ kind: "write" }, { failIfEventsMatch: query, after: 0 })).toEqual({ query, after: 0 });
    expect(conditionCheck({ kind: "write" }, { failIfEventsMatch: query, after: 42 })).toEqual({ query, after: 42 });
  });

  it("asks nothing of a write without a condition", () => {
    expect(conditionCheck({ kind: "write" }, undefined)).toBeUndefined();
  });

  it.each<[string, Outcome]>([
    ["a duplicate (its own events may match now)", { kind: "duplicate", sequences: [[3, 4]] }],
    ["a version conflict", { kind: "conflict", conflicts: [{ actorId: "a", attemptedVersion: 1, currentVersion: 2 }] }],
    ["an erased actor", { kind: "erased", actorId: "a", erasedAt: "2026-01-01T00:00:00.000Z" }],
  ])("asks nothing of %s: the version decision answers first", (_, outcome) => {
    expect(conditionCheck(outcome, { failIfEventsMatch: query, after: 1 })).toBeUndefined();
  });
});
