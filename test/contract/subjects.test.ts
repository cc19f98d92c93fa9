import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { actorType, escapeToken, Subjects, unescapeToken } from "../../src/contract/subjects.js";

const subjects = new Subjects("EVENTS");

describe("actor subjects", () => {
  it("keeps seed-style ids as they are", () => {
    expect(subjects.events("order-123")).toBe("EVENTS.events.order.order-123");
    expect(subjects.events("user_7")).toBe("EVENTS.events.unknown.user_7");
    expect(subjects.events("-lead")).toBe("EVENTS.events.unknown.-lead");
  });

  it("takes the actor type from before the first dash, unless the dash leads", () => {
    expect(actorType("order-1-2")).toBe("order");
    expect(actorType("-x")).toBe("unknown");
    expect(actorType("plain")).toBe("unknown");
    expect(actorType("a.b-1")).toBe("a.b");
    expect(subjects.events("a.b-1")).toBe("EVENTS.events.a~2eb.a~2eb-1");
  });

  it("gives the ids the seed merged different subjects", () => {
    const ids = ["a.b", "a_b", "a b", "a*b", "a>b", "a~2eb", "a\u00e9b", "a/b"];
    const subs = ids.map((id) => subjects.events(id));
    expect(new Set(subs).size).toBe(ids.length);
    for (const s of subs) expect(s).toMatch(/^EVENTS\.events\.[A-Za-z0-9_~-]+\.[A-Za-z0-9_~-]+$/);
  });

  it("escapes injectively: unescape(escape(x)) === x for random ids", () => {
    const seen = new Map<string, string>();
    for (let i = 0; i < 5000; i++) {
      const id = i % 2 === 0 ? randomBytes(1 + (i % 12)).toString("latin1") : randomBytes(1 + (i % 9)).toString("base64");
      const token = escapeToken(id);
      expect(token).toMatch(/^[A-Za-z0-9_~-]+$/);
      expect(unescapeToken(token)).toBe(id);
      const other = seen.get(token);
      if (other !== undefined) expect(other).toBe(id);
      seen.set(token, id);
    }
  });

  it("names the snapshot subjects and stream beside the events", () => {
    expect(subjects.snapshots("order-1")).toBe("EVENTS.snapshots.order.order-1");
    expect(subjects.snapshotsStream).toBe("EVENTS_SNAPSHOTS");
    expect(subjects.eventsWildcard).toBe("EVENTS.events.>");
    expect(subjects.eventsOfType("order")).toBe("EVENTS.events.order.*");
  });
});
