import { randomUUID } from "node:crypto";
import { jetstream } from "@nats-io/jetstream";
import { beforeAll, describe, expect, it } from "vitest";
import { EventStoreClient } from "../../src/client/client.js";
import { ErasedError, InternalError, ValidationError, VersionConflictError } from "../../src/contract/errors.js";
import { Subjects } from "../../src/contract/subjects.js";
import type { Event } from "../../src/contract/types.js";
import type { StoredEvent } from "../../src/server/store/event-store.js";
import { event as anEvent } from "../harness/events.js";
import { useService } from "../harness/fixture.js";

let client: EventStoreClient;

const f = useService();

beforeAll(() => {
  client = new EventStoreClient(f.nc);
});

const newActor = (type = "account") => `${type}-${randomUUID()}`;
const event = (actorId: string, version: number, data: Record<string, unknown> = { amount: version }) =>
  anEvent(actorId, version, { eventType: "Deposited", data });

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

describe("EventStoreClient against the service", () => {
  it("save stores an event, and saving it again is a duplicate with the original sequence", async () => {
    const actorId = newActor();
    const e = event(actorId, 1);
    const first = await client.save(e);
    expect(first).toMatchObject({ actorId, version: 1, duplicate: false });
    const again = await client.save(e);
    expect(again).toEqual({ ...first, duplicate: true });
  });

  it("load reports an erased actor, whose writes throw ErasedError", async () => {
    const actorId = `person-${randomUUID()}`;
    await client.save(event(actorId, 1));
    await client.saveSnapshot({ actorId, version: 1, state: { amount: 1 } });
    const erased = await client.erase(actorId);
    expect(await client.load(actorId, (s: number) => s + 1, 0)).toEqual({ state: 0, version: 0, erased: true });
    const err = await client.save(event(actorId, 2)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ErasedError);
    expect(err).toMatchObject({ code: 410, actorId, erasedAt: erased.erasedAt });
  });

  it("save of a taken version throws VersionConflictError with both versions", async () => {
    const actorId = newActor();
    await client.save(event(actorId, 1));
    await client.save(event(actorId, 2));
    const err = await client.save(event(actorId, 2)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VersionConflictError);
    expect(err).toMatchObject({ code: 409, actorId, attemptedVersion: 2, currentVersion: 2 });
  });

  it("an invalid event throws ValidationError with the field errors", async () => {
    const { eventType: _omit, ...invalid } = event(newActor(), 1);
    const err = await client.save(invalid as Event).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect(err).toMatchObject({ code: 400, errors: [{ path: "/eventType", message: "is required" }] });
  });

  it("an event over the server's max_payload throws ValidationError (400, too large), not retried", async () => {
    const maxPayload = f.nc.info!.max_payload;
    const retries: unknown[] = [];
    const retrying = new EventStoreClient(f.nc, { retry: { onRetry: (r) => retries.push(r) } });
    const actorId = newActor();
    const big = event(actorId, 1, { pad: "x".repeat(maxPayload) });
    for (const attempt of [
      () => retrying.save(big),
      () => retrying.saveJson(new TextEncoder().encode(JSON.stringify(big))),
      () => retrying.append(actorId, [big]),
      () => retrying.saveSnapshot({ actorId, version: 1, state: { pad: "x".repeat(maxPayload) } }),
    ]) {
      const err = await attempt().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ValidationError);
      expect(err).toMatchObject({ code: 400 });
      expect((err as Error).message).toMatch(new RegExp(`too large: \\d+ bytes, more than the NATS server's max_payload of ${maxPayload}`));
    }
    expect(retries).toEqual([]);
    expect(await client.version(actorId)).toBe(0);
  });

  it("a message the service did not write makes it answer 500, rebuilt as InternalError", async () => {
    const actorId = newActor();
    await jetstream(f.nc).publish(new Subjects("EVENTS").events(actorId), JSON.stringify(event(actorId, 1)));
    const err = await client.version(actorId).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InternalError);
    expect(err).toMatchObject({ code: 500, message: "internal error" });
  });

  it("events follows hasMore across pages, from a version on", async () => {
    const actorId = newActor();
    const saved = Array.from({ length: 10 }, (_, i) => event(actorId, i + 1));
    for (const e of saved) await client.save(e);
    const all = await collect(client.events(actorId, { pageSize: 3 }));
    expect(all.map(({ timestamp: _t, ...rest }) => rest)).toEqual(saved);
    expect(all.every((e) => typeof e.timestamp === "string")).toBe(true);
    const tail = await collect(client.events(actorId, { fromVersion: 7, pageSize: 2 }));
    expect(tail.map((e) => e.version)).toEqual([8, 9, 10]);
    expect(await collect(client.events(newActor()))).toEqual([]);
  });

  it("version is 0 for an unknown actor, then the latest version", async () => {
    const actorId = newActor();
    expect(await client.version(actorId)).toBe(0);
    await client.save(event(actorId, 1));
    await client.save(event(actorId, 5));
    expect(await client.version(actorId)).toBe(5);
  });

  it("saveSnapshot and getSnapshot; undefined when there is none; a snapshot ahead of the events conflicts", async () => {
    const actorId = newActor();
    expect(await client.getSnapshot(actorId)).toBeUndefined();
    await client.save(event(actorId, 1));
    await client.save(event(actorId, 2));
    expect(await client.saveSnapshot({ actorId, version: 2, state: { balance: 3 } })).toEqual({ actorId, version: 2 });
    const snapshot = await client.getSnapshot(actorId);
    expect(snapshot).toMatchObject({ actorId, version: 2, state: { balance: 3 } });
    expect(typeof snapshot?.timestamp).toBe("string");
    const err = await client.saveSnapshot({ actorId, version: 3, state: {} }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VersionConflictError);
    expect(err).toMatchObject({ attemptedVersion: 3, currentVersion: 2 });
  });

  it("append stores consecutive events at once, and repeating it is a duplicate", async () => {
    const actorId = newActor();
    const batch = [event(actorId, 1), event(actorId, 2), event(actorId, 3)];
    const first = await client.append(actorId, batch);
    expect(first).toMatchObject({ actorId, fromVersion: 1, toVersion: 3, duplicate: false });
    expect(first.sequences).toHaveLength(3);
    expect(await client.append(actorId, batch)).toMatchObject({ fromVersion: 1, toVersion: 3, duplicate: true });
    const conflict = await client.append(actorId, [event(actorId, 3), event(actorId, 4)]).catch((e: unknown) => e);
    expect(conflict).toBeInstanceOf(VersionConflictError);
    expect((await collect(client.events(actorId))).map((e) => e.id)).toEqual(batch.map((e) => e.id));
  });
});

describe("load", () => {
  const balance = (state: { balance: number }, e: StoredEvent) => ({ balance: state.balance + Number(e.data.amount) });

  it("folds every event when there is no snapshot, ready for the next save", async () => {
    const actorId = newActor();
    for (let v = 1; v <= 4; v++) await client.save(event(actorId, v));
    const loaded = await client.load(actorId, balance, { balance: 0 });
    expect(loaded).toEqual({ state: { balance: 1 + 2 + 3 + 4 }, version: 4 });
    await client.save(event(actorId, loaded.version + 1));
    expect(await client.version(actorId)).toBe(5);
  });

  it("starts from the latest snapshot and folds only the events after it", async () => {
    const actorId = newActor();
    for (let v = 1; v <= 5; v++) await client.save(event(actorId, v));
    // A state no fold of events 1..3 gives: it shows that the snapshot stood in for them.
    await client.saveSnapshot({ actorId, version: 3, state: { balance: 1000 } });
    expect(await client.load(actorId, balance, { balance: 0 })).toEqual({ state: { balance: 1000 + 4 + 5 }, version: 5 });
  });

  it("returns the initial state at version 0 for an actor without history", async () => {
    expect(await client.load(newActor(), balance, { balance: 7 })).toEqual({ state: { balance: 7 }, version: 0 });
  });
});
