import { randomUUID } from "node:crypto";
import { expect, it } from "vitest";
import { useService } from "../harness/fixture.js";
import { request } from "../harness/requests.js";

const MAX_PAYLOAD = 64 * 1024;

const f = useService({ server: { config: `max_payload: ${MAX_PAYLOAD}` } });

it("pages a history larger than max_payload: every reply fits, together they hold every event once", async () => {
  const actorId = `doc-${randomUUID()}`;
  const blob = "y".repeat(9000);
  const count = 40;
  for (let version = 1; version <= count; version++) {
    const r = await request(f.nc, "eventstore.save", { id: randomUUID(), eventType: "Edited", actorId, version, data: { blob } });
    expect(r.code).toBe(0);
  }
  const versions: number[] = [];
  let from = 0;
  let pages = 0;
  for (;;) {
    const r = await request(f.nc, "eventstore.events", { actorId, fromVersion: from });
    expect(r.code).toBe(0);
    expect(r.bytes).toBeLessThanOrEqual(MAX_PAYLOAD);
    const events = r.body.events as { version: number }[];
    expect(events.length).toBeGreaterThan(0);
    versions.push(...events.map((e) => e.version));
    pages++;
    if (!r.body.hasMore) break;
    from = events.at(-1)!.version;
  }
  expect(versions).toEqual(Array.from({ length: count }, (_, i) => i + 1));
  expect(pages).toBeGreaterThanOrEqual(Math.ceil((count * 9000) / MAX_PAYLOAD));
});

it("refuses an event too large to be read back, and accepts one just under the limit", async () => {
  const actorId = `doc-${randomUUID()}`;
  const limit = MAX_PAYLOAD - 4096;
  // The request's fields around the blob, and the 39 bytes of the timestamp the service adds: the
  // stored event must be within the request limit too (so that an export can be imported).
  const envelope = JSON.stringify({ id: "x", eventType: "E", actorId, version: 1, data: { blob: "" } }).length + 36 + 39;
  const tooBig = await request(f.nc, "eventstore.save", {
    id: randomUUID(),
    eventType: "E",
    actorId,
    version: 1,
    data: { blob: "z".repeat(limit) },
  });
  expect(tooBig.code).toBe(400);
  const fits = await request(f.nc, "eventstore.save", {
    id: randomUUID(),
    eventType: "E",
    actorId,
    version: 1,
    data: { blob: "z".repeat(limit - envelope) },
  });
  expect(fits.code).toBe(0);
  const read = await request(f.nc, "eventstore.events", { actorId });
  expect((read.body.events as unknown[]).length).toBe(1);
});
