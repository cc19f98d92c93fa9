import { randomUUID } from "node:crypto";
import { jetstreamManager } from "@nats-io/jetstream";
import { describe, expect, it } from "vitest";
import { event, events } from "../harness/events.js";
import { useService } from "../harness/fixture.js";
import { request } from "../harness/requests.js";

// Contract v3's bad input, one case a line, against the service process: over-long tags, too many
// tags, items, types or tags of an item, empty items, unknown fields. Each is a 400 whose message
// and first field error name the field's path, and nothing is stored. (test/security/hostile.test.ts
// generates such mutations at random; this is the readable list.)

const f = useService();

const streamMessages = async () => (await jetstreamManager(f.nc)).streams.info("EVENTS").then((i) => i.state.messages);

const many = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
const query = (...items: unknown[]) => ({ items });
const actorId = `order-${randomUUID()}`;
const save = (extra: Record<string, unknown>) => ["eventstore.save", { ...event(actorId, 1), ...extra }] as const;
const append = (condition: unknown) => ["eventstore.append", { actorId, events: [event(actorId, 1)], condition }] as const;
const transact = (condition: unknown) =>
  ["eventstore.transact", { appends: [{ actorId, events: [event(actorId, 1)] }], condition }] as const;
const read = (body: Record<string, unknown>) => ["eventstore.read", body] as const;

const CASES: [string, readonly [string, unknown], string, RegExp][] = [
  // an event's tags
  ["a tag of 129 characters", save({ tags: ["ok", "x".repeat(129)] }), "/tags/1", /more than 128 characters/],
  ["an empty tag", save({ tags: [""] }), "/tags/0", /fewer than 1 characters/],
  ["a tag with a control character", save({ tags: ["line\nbreak"] }), "/tags/0", /must match pattern/],
  ["a tag that is not a string", save({ tags: [7] }), "/tags/0", /must be string/],
  ["tags that are not a list", save({ tags: "a" }), "/tags", /must be array/],
  ["the same tag twice", save({ tags: ["a", "b", "a"] }), "/tags", /duplicate/],
  ["17 tags", save({ tags: many("t", 17) }), "/tags", /more than 16 items/],
  // a condition
  [
    "a condition with an unknown field",
    append({ failIfEventsMatch: query({ tags: ["a"] }), before: 3 }),
    "/condition/before",
    /is not allowed/,
  ],
  ["a condition without a query", append({ after: 3 }), "/condition/failIfEventsMatch", /is required/],
  ["a negative after", append({ failIfEventsMatch: query({ tags: ["a"] }), after: -1 }), "/condition/after", /must be >= 0/],
  ["an after that is not an integer", append({ failIfEventsMatch: query({ tags: ["a"] }), after: 1.5 }), "/condition/after", /integer/],
  ["a query without items", append({ failIfEventsMatch: {} }), "/condition/failIfEventsMatch/items", /is required/],
  ["a query of 0 items", append({ failIfEventsMatch: query() }), "/condition/failIfEventsMatch/items", /fewer than 1 items/],
  [
    "a query of 17 items",
    append({ failIfEventsMatch: query(...many("t", 17).map((t) => ({ tags: [t] }))) }),
    "/condition/failIfEventsMatch/items",
    /more than 16 items/,
  ],
  [
    "an empty item",
    append({ failIfEventsMatch: query({ tags: ["a"] }, {}) }),
    "/condition/failIfEventsMatch/items/1",
    /fewer than 1 properties/,
  ],
  [
    "an item of 17 types",
    append({ failIfEventsMatch: query({ types: many("T", 17) }) }),
    "/condition/failIfEventsMatch/items/0/types",
    /more than 16 items/,
  ],
  [
    "an item of 17 tags",
    append({ failIfEventsMatch: query({ tags: many("t", 17) }) }),
    "/condition/failIfEventsMatch/items/0/tags",
    /more than 16 items/,
  ],
  [
    "an item of no types",
    append({ failIfEventsMatch: query({ types: [] }) }),
    "/condition/failIfEventsMatch/items/0/types",
    /fewer than 1 items/,
  ],
  [
    "an item with an unknown field",
    append({ failIfEventsMatch: query({ type: "T" }) }),
    "/condition/failIfEventsMatch/items/0/type",
    /is not allowed/,
  ],
  [
    "an item's tag of 129 characters",
    append({ failIfEventsMatch: query({ tags: ["a", "x".repeat(129)] }) }),
    "/condition/failIfEventsMatch/items/0/tags/1",
    /more than 128 characters/,
  ],
  [
    "a transaction's empty item",
    transact({ failIfEventsMatch: query({}) }),
    "/condition/failIfEventsMatch/items/0",
    /fewer than 1 properties/,
  ],
  // a read
  ["a read with an unknown field", read({ after: 3 }), "/after", /is not allowed/],
  [
    "a read's query with an unknown field",
    read({ query: { items: [{ tags: ["a"] }], backwards: true } }),
    "/query/backwards",
    /is not allowed/,
  ],
  [
    "a read's query of 17 items",
    read({ query: query(...many("T", 17).map((t) => ({ types: [t] }))) }),
    "/query/items",
    /more than 16 items/,
  ],
  ["a read's empty item", read({ query: query({}) }), "/query/items/0", /fewer than 1 properties/],
  ["a read's item of 17 tags", read({ query: query({ tags: many("t", 17) }) }), "/query/items/0/tags", /more than 16 items/],
  ["a read from a negative position", read({ from: -1 }), "/from", /must be >= 0/],
  ["a read of limit 0", read({ limit: 0 }), "/limit", /must be >= 1/],
  ["a read of limit 10001", read({ limit: 10_001 }), "/limit", /must be <= 10000/],
  ["a read with backwards not a boolean", read({ backwards: "yes" }), "/backwards", /must be boolean/],
];

describe("contract v3 bad input: 400 naming the field", () => {
  const cases = CASES.map(([name, [subject, body], path, says]) => ({ name, subject, body, path, says }));
  it.each(cases)("$name: 400 naming $path", async ({ subject, body, path, says }) => {
    const before = await streamMessages();
    const r = await request(f.nc, subject, body);
    expect(r.code, JSON.stringify(r.body)).toBe(400);
    const error = r.body.error as { message: string; errors: { path: string; message: string }[] };
    expect(error.message).toContain(`${path} `);
    expect(error.errors[0]).toEqual({ path, message: expect.stringMatching(says) });
    expect(await streamMessages()).toBe(before);
  });
});

describe("a tagged write beyond nats-server's atomic batch limit (1000 messages)", () => {
  // 16 tags on every event: one link per actor and distinct tag, so an append of n events writes
  // n + 16 messages, and a condition on a tag it does not carry one guard message more.
  const tags = many(`limit-${randomUUID().slice(0, 8)}-`, 16);
  const unclaimed = { failIfEventsMatch: query({ tags: [`unclaimed-${randomUUID()}`] }) };

  it("answers 400 naming the limit when the condition's guard message makes it 1001, stores 1000 without it", async () => {
    const a = `order-${randomUUID()}`;
    const body = { actorId: a, events: events(a, 1, 984, () => ({ tags })) };
    const before = await streamMessages();
    const over = await request(f.nc, "eventstore.append", { ...body, condition: unclaimed });
    expect(over.code, JSON.stringify(over.body).slice(0, 300)).toBe(400);
    const error = over.body.error as { message: string; errors: { path: string }[] };
    expect(error.message).toContain("/events");
    expect(error.message).toContain("needs 1001 messages in one atomic batch (984 events, 16 tag links, 1 condition guards)");
    expect(error.message).toContain("more than the 1000 a nats-server takes");
    expect(error.errors[0]!.path).toBe("/events");
    expect(await streamMessages()).toBe(before);

    const atTheLimit = await request(f.nc, "eventstore.append", body);
    expect(atTheLimit.code, JSON.stringify(atTheLimit.body).slice(0, 300)).toBe(0);
    expect(await streamMessages()).toBe(before + 1000);
  });

  it("counts a transaction's links per actor: 984 events of two actors and their 32 links are 400 at /appends", async () => {
    const [a, b] = [`order-${randomUUID()}`, `order-${randomUUID()}`];
    const before = await streamMessages();
    const r = await request(f.nc, "eventstore.transact", {
      appends: [
        { actorId: a, events: events(a, 1, 492, () => ({ tags })) },
        { actorId: b, events: events(b, 1, 492, () => ({ tags })) },
      ],
    });
    expect(r.code, JSON.stringify(r.body).slice(0, 300)).toBe(400);
    const error = r.body.error as { message: string; errors: { path: string }[] };
    expect(error.message).toContain("needs 1016 messages in one atomic batch (984 events, 32 tag links, 0 condition guards)");
    expect(error.errors[0]!.path).toBe("/appends");
    expect(await streamMessages()).toBe(before);
  });
});
