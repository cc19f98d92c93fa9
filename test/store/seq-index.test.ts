import { describe, expect, it } from "vitest";
import { planRuns } from "../../src/server/jetstream/reader.js";
import { ActorIndex, firstAfter } from "../../src/server/jetstream-store/seq-index.js";
import { StaleIndexError } from "../../src/server/jetstream-store/stored-msg.js";
import { LruCache } from "../../src/server/store/cache.js";

describe("ActorIndex", () => {
  const index = () => {
    const i = new ActorIndex(true, 0);
    for (const [v, s] of [
      [1, 10],
      [2, 50],
      [5, 51],
      [6, 900],
    ])
      i.add(v!, s!);
    return i;
  };

  it("finds the first entry after a version, gaps in versions included", () => {
    const i = index();
    expect([0, 1, 2, 3, 4, 5, 6, 7].map((v) => firstAfter(i.versions, v))).toEqual([0, 1, 2, 2, 2, 3, 4, 4]);
    expect(i.lastSeq).toBe(900);
    expect(i.lastVersion).toBe(6);
  });

  it("refuses entries that do not grow", () => {
    const i = index();
    expect(() => i.add(7, 900)).toThrow(StaleIndexError);
    expect(() => i.add(6, 901)).toThrow(StaleIndexError);
  });

  it("knows what it covers once trimmed to a tail", () => {
    const i = index();
    expect(i.covers(0)).toBe(true);
    const held = i.versions;
    i.trim(2);
    // A read that took the arrays before the trim keeps walking them by position.
    expect(held).toEqual([1, 2, 5, 6]);
    expect(i.complete).toBe(false);
    expect(i.versions).toEqual([5, 6]);
    expect(i.covers(0)).toBe(false);
    expect(i.covers(4)).toBe(true);
    expect(i.covers(6)).toBe(true);
  });
});

describe("ActorIndex under reads that scan into it", () => {
  it("is not trimmed while a read scans into it, so that what the read chose it for stays", () => {
    const i = new ActorIndex(true, 0);
    for (let v = 1; v <= 4; v++) i.add(v, v * 10);
    i.scans++;
    i.trim(2);
    expect(i.versions).toEqual([1, 2, 3, 4]);
    expect(i.covers(0)).toBe(true);
    i.scans--;
    i.trim(2);
    expect(i.versions).toEqual([3, 4]);
  });

  it("says how many entries end at a head, writes after it included", () => {
    const i = new ActorIndex(true, 0);
    for (const [v, s] of [
      [1, 10],
      [2, 50],
      [5, 51],
    ])
      i.add(v!, s!);
    expect(i.endingAt({ version: 2, seq: 50 })).toBe(2);
    expect(i.endingAt({ version: 5, seq: 51 })).toBe(3);
    // the head's sequence holds another version, or is not in the index
    expect(i.endingAt({ version: 3, seq: 50 })).toBe(-1);
    expect(i.endingAt({ version: 2, seq: 49 })).toBe(-1);
    expect(i.endingAt({ version: 6, seq: 60 })).toBe(-1);
  });
});

describe("planRuns", () => {
  it("groups close sequences and leaves far ones alone", () => {
    expect(planRuns([1, 2, 3, 10, 100, 101, 5000], 8)).toEqual([
      { start: 1, end: 10, count: 4 },
      { start: 100, end: 101, count: 2 },
      { start: 5000, end: 5000, count: 1 },
    ]);
    expect(planRuns([], 8)).toEqual([]);
  });
});

describe("LruCache", () => {
  it("evicts the least recently used entries past its capacity", () => {
    const c = new LruCache<number>(2);
    c.set("a", 1);
    c.set("b", 2);
    c.get("a");
    c.set("c", 3);
    expect([c.get("a"), c.get("b"), c.get("c")]).toEqual([1, undefined, 3]);
  });

  it("bounds the total weight, keeping at least the newest entry", () => {
    const c = new LruCache<string>(10);
    c.set("a", "a", 4);
    c.set("b", "b", 4);
    c.set("c", "c", 4);
    expect(c.get("a")).toBeUndefined();
    expect(c.weight).toBe(8);
    c.set("b", "b", 9);
    expect(c.get("c")).toBeUndefined();
    expect(c.weight).toBe(9);
    c.set("huge", "h", 50);
    expect(c.size).toBe(1);
    expect(c.get("huge")).toBe("h");
  });
});
