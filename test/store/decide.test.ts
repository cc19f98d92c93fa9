import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decide, type StoredVersion, versionsToCompare } from "../../src/server/store/decide.js";

// A history: versions 1, 2, 4, 5 at sequences 10, 11, 20, 21, ids "a".."d".
const stored = new Map<number, StoredVersion>([
  [1, { seq: 10, id: "a" }],
  [2, { seq: 11, id: "b" }],
  [4, { seq: 20, id: "c" }],
  [5, { seq: 21, id: "d" }],
]);
const head = { version: 5, seq: 21 };
const events = (...pairs: [number, string][]) => pairs.map(([version, id]) => ({ version, id }));

describe("decide", () => {
  it.each([
    ["after the head", events([6, "e"]), { kind: "write" }],
    ["after the head, with a gap", events([9, "e"], [10, "f"]), { kind: "write" }],
    ["the head again", events([5, "d"]), { kind: "duplicate", sequences: [21] }],
    ["an earlier event again", events([1, "a"]), { kind: "duplicate", sequences: [10] }],
    ["several again", events([1, "a"], [2, "b"]), { kind: "duplicate", sequences: [10, 11] }],
    ["the head with another id", events([5, "x"]), { kind: "conflict", currentVersion: 5 }],
    ["an id differing in white space", events([5, "d "]), { kind: "conflict", currentVersion: 5 }],
    ["a version the history skipped", events([3, "c"]), { kind: "conflict", currentVersion: 5 }],
    ["a repeat reaching past the head", events([5, "d"], [6, "e"]), { kind: "conflict", currentVersion: 5 }],
    ["first matching, a later one not", events([1, "a"], [2, "x"]), { kind: "conflict", currentVersion: 5 }],
  ])("%s", (_, write, expected) => {
    expect(decide(write, head, stored)).toEqual(expected);
  });

  it("writes anything on an empty history", () => {
    expect(decide(events([1, "a"]), { version: 0, seq: 0 }, new Map())).toEqual({ kind: "write" });
  });

  it("asks for the stored versions only when the write could be a repeat", () => {
    expect(versionsToCompare(events([6, "e"]), head)).toEqual([]);
    expect(versionsToCompare(events([5, "d"], [6, "e"]), head)).toEqual([]);
    expect(versionsToCompare(events([1, "a"], [2, "b"]), head)).toEqual([1, 2]);
  });

  it("holds its rule for any history and write", () => {
    const history = fc.uniqueArray(fc.integer({ min: 1, max: 30 }), { maxLength: 12 }).map((vs) => vs.sort((a, b) => a - b));
    const ids = fc.constantFrom("a", "b", " a", "c");
    fc.assert(
      fc.property(
        history,
        fc.integer({ min: 1, max: 32 }),
        fc.array(ids, { minLength: 1, maxLength: 4 }),
        ids,
        (vs, first, writeIds, storedId) => {
          const held = new Map(vs.map((v, i) => [v, { seq: 100 + i, id: storedId }]));
          const h = { version: vs.at(-1) ?? 0, seq: vs.length === 0 ? 0 : 100 + vs.length - 1 };
          const write = writeIds.map((id, i) => ({ version: first + i, id }));
          const asked = new Map([...held].filter(([v]) => versionsToCompare(write, h).includes(v)));
          const d = decide(write, h, asked);
          if (first > h.version) return d.kind === "write";
          const repeat = write.every((e) => held.get(e.version)?.id === e.id);
          if (repeat) return d.kind === "duplicate" && d.sequences.every((s, i) => s === held.get(write[i]!.version)!.seq);
          return d.kind === "conflict" && d.currentVersion === h.version;
        },
      ),
      { numRuns: 2000 },
    );
  });
});
