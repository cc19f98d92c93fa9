import { describe, expect, it } from "vitest";
import { ValidationError } from "../../src/contract/errors.js";
import { layOutBatch } from "../../src/server/jetstream-store/tag-layout.js";
import { checkBatchMessages, MAX_APPEND_EVENTS } from "../../src/server/store/rules.js";

describe("a tagged write's batch layout", () => {
  it("puts each actor's events first, then one link per distinct tag of them, then the guards", () => {
    const layout = layOutBatch(
      [
        [{ tags: ["t"] }, { tags: ["t", "u"] }],
        [{}, { tags: ["t", "t"] }],
      ],
      2,
    );
    // [a1, a2, link t, link u, b1, b2, link t, guard, guard]
    expect(layout.events).toEqual([
      [0, 1],
      [4, 5],
    ]);
    expect(layout.links).toEqual([
      { tag: "t", index: 2, offsets: [2, 1] },
      { tag: "u", index: 3, offsets: [2] },
      { tag: "t", index: 6, offsets: [1], previousIndex: 2 },
    ]);
    expect(layout.guardsAt).toBe(7);
    expect(layout.count).toBe(9);
  });

  it("adds nothing to untagged events", () => {
    expect(layOutBatch([[{}, {}]], 0)).toEqual({ events: [[0, 1]], links: [], guardsAt: 2, count: 2 });
  });

  it("refuses more messages than one atomic batch takes, counting links and guards, naming the limit", () => {
    expect(() => checkBatchMessages({ events: MAX_APPEND_EVENTS - 17, links: 1, guards: 16 }, "/events")).not.toThrow();
    const err = (() => {
      try {
        checkBatchMessages({ events: MAX_APPEND_EVENTS - 16, links: 1, guards: 16 }, "/appends");
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).message).toMatch(/^\/appends needs 1001 messages .* more than the 1000 /);
  });
});
