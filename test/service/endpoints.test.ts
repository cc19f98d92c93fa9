import { randomUUID } from "node:crypto";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { describe, expect, it } from "vitest";
import { event as anEvent } from "../harness/events.js";
import { useService } from "../harness/fixture.js";
import { request } from "../harness/requests.js";
import { startServiceProcess } from "../harness/service-process.js";

const f = useService();

const event = (actorId: string, version: number, extra: Record<string, unknown> = {}) =>
  anEvent(actorId, version, { eventType: "OrderPlaced", data: { total: version * 10 }, ...extra });

async function streamMessages(): Promise<number> {
  const jsm = await jetstreamManager(f.nc);
  return (await jsm.streams.info("EVENTS")).state.messages;
}

describe("endpoints through NATS requests", () => {
  it("save stores an event and replies with its version and sequence", async () => {
    const actorId = `order-${randomUUID()}`;
    const r = await request(f.nc, "eventstore.save", event(actorId, 1));
    expect(r.code).toBe(0);
    expect(r.body).toMatchObject({ actorId, version: 1, duplicate: false });
    expect(r.body.sequence).toEqual(expect.any(Number));
  });

  it("events returns the actor's events in order, and version the latest", async () => {
    const actorId = `order-${randomUUID()}`;
    const sent = [event(actorId, 1), event(actorId, 2), event(actorId, 3, { metadata: { correlationId: "c" } })];
    for (const e of sent) expect((await request(f.nc, "eventstore.save", e)).code).toBe(0);
    const r = await request(f.nc, "eventstore.events", { actorId });
    expect(r.code).toBe(0);
    expect(r.body.hasMore).toBe(false);
    const events = r.body.events as Record<string, unknown>[];
    expect(events.map(({ timestamp: _t, ...rest }) => rest)).toEqual(sent);
    expect(events.every((e) => typeof e.timestamp === "string")).toBe(true);
    expect((await request(f.nc, "eventstore.events", { actorId, fromVersion: 1, limit: 1 })).body).toMatchObject({
      events: [expect.objectContaining({ version: 2 })],
      hasMore: true,
    });
    expect((await request(f.nc, "eventstore.version", { actorId })).body).toEqual({ actorId, version: 3 });
  });

  it("answers an unknown actor with no events, version 0 and a 404 snapshot", async () => {
    const actorId = `ghost-${randomUUID()}`;
    expect((await request(f.nc, "eventstore.events", { actorId })).body).toEqual({ actorId, events: [], hasMore: false });
    expect((await request(f.nc, "eventstore.version", { actorId })).body).toEqual({ actorId, version: 0 });
    const snap = await request(f.nc, "eventstore.snapshot.get", { actorId });
    expect(snap.code).toBe(404);
    expect(snap.body).toEqual({ error: { code: 404, message: expect.stringContaining(actorId) } });
  });

  it("saves and returns snapshots, and refuses one ahead of the events with 409", async () => {
    const actorId = `order-${randomUUID()}`;
    await request(f.nc, "eventstore.save", event(actorId, 1));
    await request(f.nc, "eventstore.save", event(actorId, 2));
    const ahead = await request(f.nc, "eventstore.snapshot.save", { actorId, version: 3, state: { total: 30 } });
    expect(ahead.code).toBe(409);
    expect(ahead.body).toMatchObject({ error: { code: 409, actorId, attemptedVersion: 3, currentVersion: 2 } });
    const saved = await request(f.nc, "eventstore.snapshot.save", { actorId, version: 2, state: { total: 30 } });
    expect(saved.body).toEqual({ actorId, version: 2 });
    const got = await request(f.nc, "eventstore.snapshot.get", { actorId });
    expect(got.body).toEqual({ actorId, version: 2, state: { total: 30 }, timestamp: expect.any(String) });
  });

  it("replies 409 with the real current version, in the body and the micro headers", async () => {
    const actorId = `order-${randomUUID()}`;
    await request(f.nc, "eventstore.save", event(actorId, 1));
    await request(f.nc, "eventstore.save", event(actorId, 4));
    const r = await request(f.nc, "eventstore.save", event(actorId, 2));
    expect(r.code).toBe(409);
    expect(r.errorHeader).toContain("current version 4");
    expect(r.body).toEqual({
      error: { code: 409, message: expect.any(String), actorId, attemptedVersion: 2, currentVersion: 4 },
    });
  });

  it("answers a retried save as a duplicate, also from a new process with a cold cache", async () => {
    const actorId = `order-${randomUUID()}`;
    const e1 = event(actorId, 1);
    const first = await request(f.nc, "eventstore.save", e1);
    await request(f.nc, "eventstore.save", event(actorId, 2));
    expect((await request(f.nc, "eventstore.save", e1)).body).toEqual({ ...first.body, duplicate: true });
    // A new process knows nothing of this actor: it must find the original on the server.
    expect(await f.services[0]!.stop()).toBe(0);
    f.services[0] = await startServiceProcess(f.server.url);
    expect((await request(f.nc, "eventstore.save", e1)).body).toEqual({ ...first.body, duplicate: true });
    expect(((await request(f.nc, "eventstore.events", { actorId })).body.events as unknown[]).length).toBe(2);
  });

  it("returns 500 without internals when the stream holds a message eventstore did not write", async () => {
    const actorId = `order-${randomUUID()}`;
    await request(f.nc, "eventstore.save", event(actorId, 1));
    await jetstream(f.nc).publish(`EVENTS.events.order.${actorId}`, "not an event");
    const r = await request(f.nc, "eventstore.events", { actorId });
    expect(r.code).toBe(500);
    expect(r.body).toEqual({ error: { code: 500, message: "internal error" } });
    expect(JSON.stringify(r.body)).not.toMatch(/at .*\.js/);
  });

  it("stores nothing for malformed requests and names the failing field", async () => {
    const actorId = `order-${randomUUID()}`;
    const valid = event(actorId, 1);
    const cases: [string, string | Uint8Array | unknown, string][] = [
      ["not JSON", "{not json", "not valid JSON"],
      ["empty body", "", "empty"],
      ["invalid UTF-8", new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), "UTF-8"],
      ["a JSON array", "[]", "/"],
      ["a wrong type", { ...valid, version: "1" }, "/version"],
      ["a missing field", { ...valid, id: undefined }, "/id"],
      ["an unknown field", { ...valid, extra: 1 }, "/extra"],
      ["a negative version", { ...valid, version: -1 }, "/version"],
      ["a zero version", { ...valid, version: 0 }, "/version"],
      ["a fractional version", { ...valid, version: 1.5 }, "/version"],
      ["a version beyond 2^53", `{"id":"x","eventType":"T","actorId":"${actorId}","version":9007199254740993,"data":{}}`, "/version"],
      ["data that is not an object", { ...valid, data: [1] }, "/data"],
      ["non-string metadata", { ...valid, metadata: { n: 1 } }, "/metadata/n"],
      ["a bad timestamp", { ...valid, timestamp: "yesterday" }, "/timestamp"],
      ["an empty actor id", { ...valid, actorId: "" }, "/actorId"],
      ["a control character in the actor id", { ...valid, actorId: "order-\n1" }, "/actorId"],
      ["an over-long id", { ...valid, id: "i".repeat(129) }, "/id"],
      ["a __proto__ key", `{"id":"p","eventType":"T","actorId":"${actorId}","version":1,"data":{"__proto__":{"admin":true}}}`, "__proto__"],
      [
        "deep nesting",
        `{"id":"d","eventType":"T","actorId":"${actorId}","version":1,"data":${"[".repeat(5000)}${"]".repeat(5000)}}`,
        "deeper",
      ],
      ["oversized data", { ...valid, data: { blob: "x".repeat(1024 * 1024 - 2000) } }, "too large"],
    ];
    const before = await streamMessages();
    for (const [name, body, expected] of cases) {
      const r = await request(f.nc, "eventstore.save", body);
      expect(r.code, name).toBe(400);
      expect((r.body.error as { message: string }).message, name).toContain(expected);
    }
    const badReads: unknown[] = [
      { actorId, fromVersion: -1 },
      { actorId, limit: 0 },
      { actorId, limit: 10001 },
      { actorId, fromVersion: 1.5 },
      {},
    ];
    for (const body of badReads) expect((await request(f.nc, "eventstore.events", body)).code).toBe(400);
    expect((await request(f.nc, "eventstore.snapshot.save", { actorId, version: 1, state: "s" })).code).toBe(400);
    expect((await request(f.nc, "eventstore.version", { actorId: 7 })).code).toBe(400);
    expect(await streamMessages()).toBe(before);
    expect((await request(f.nc, "eventstore.version", { actorId })).body).toEqual({ actorId, version: 0 });
  });

  it("lists the schema violations in the 400 body", async () => {
    const r = await request(f.nc, "eventstore.save", { eventType: "T" });
    expect(r.code).toBe(400);
    const body = r.body.error as { errors: { path: string; message: string }[] };
    expect(body.errors[0]).toEqual({ path: expect.stringMatching(/^\/(id|actorId|version|data)$/), message: "is required" });
  });
});
