import { randomUUID } from "node:crypto";
import { jetstreamManager } from "@nats-io/jetstream";
import { beforeAll, describe, expect, it } from "vitest";
import { EventStoreClient } from "../../src/client/client.js";
import type { StreamEvent } from "../../src/client/subscribe.js";
import { ValidationError } from "../../src/contract/errors.js";
import type { Event } from "../../src/contract/types.js";
import { useService } from "../harness/fixture.js";

const STREAM = "LEDGER";
let client: EventStoreClient;

// A stream name other than the default shows that the client finds it through $SRV INFO.
const f = useService({ env: { EVENTSTORE_STREAM: STREAM } });

beforeAll(() => {
  client = new EventStoreClient(f.nc);
});

const event = (actorId: string, version: number): Event => ({
  id: randomUUID(),
  eventType: "Posted",
  actorId,
  version,
  data: { n: version },
});

async function consumerCount(): Promise<number> {
  return (await (await jetstreamManager(f.nc)).streams.info(STREAM)).state.consumer_count;
}

/** Takes `count` items from the iterator, then leaves the loop (which stops the subscription). */
async function take(iterable: AsyncIterable<StreamEvent>, count: number, onEach?: (n: number) => Promise<void>) {
  const out: StreamEvent[] = [];
  for await (const item of iterable) {
    out.push(item);
    await onEach?.(out.length);
    if (out.length === count) break;
  }
  return out;
}

describe("subscribe", () => {
  it("discovers the stream from the service", async () => {
    expect(await client.streamName()).toBe(STREAM);
  });

  it("delivers an erased actor's tombstone as erased, after its events were purged", async () => {
    const actorId = `ledger-${randomUUID()}`;
    await client.save(event(actorId, 1));
    await client.save(event(actorId, 2));
    const erased = await client.erase(actorId, { reason: "test" });
    const [item] = await take(await client.subscribe({ actorId }), 1);
    expect(item).toEqual({ sequence: expect.any(Number), erased: { actorId, version: 2, erasedAt: erased.erasedAt, reason: "test" } });
  });

  it("delivers the stored events, then the ones saved after it started, and deletes its consumer on break", async () => {
    const actorId = `ledger-${randomUUID()}`;
    await client.save(event(actorId, 1));
    await client.save(event(actorId, 2));
    const sub = await client.subscribe({ actorId });
    expect(sub.backlog).toBe(2);
    expect(await consumerCount()).toBe(1);
    // Each live save happens only after the previous event arrived: they cannot be part of the catch-up.
    const got = await take(sub, 4, async (n) => {
      if (n >= 2) await client.save(event(actorId, n + 1));
    });
    expect(got.map((g) => g.event!.version)).toEqual([1, 2, 3, 4]);
    expect(got.every((g) => g.event!.actorId === actorId)).toBe(true);
    const sequences = got.map((g) => g.sequence);
    expect([...sequences].sort((a, b) => a - b)).toEqual(sequences);
    expect(await consumerCount()).toBe(0);
  });

  it("filters by actor type and resumes from a stream sequence", async () => {
    const tag = randomUUID().slice(0, 8);
    const wanted = `pay${tag}-1`;
    await client.save(event(`other${tag}-1`, 1));
    const first = await client.save(event(wanted, 1));
    await client.save(event(`other${tag}-1`, 2));
    await client.save(event(wanted, 2));
    const all = await take(await client.subscribe({ actorType: `pay${tag}` }), 2);
    expect(all.map((g) => [g.event!.actorId, g.event!.version])).toEqual([
      [wanted, 1],
      [wanted, 2],
    ]);
    const resumed = await take(await client.subscribe({ actorType: `pay${tag}`, fromSequence: first.sequence + 1 }), 1);
    expect(resumed.map((g) => g.event!.version)).toEqual([2]);
    expect(await consumerCount()).toBe(0);
  });

  it("onlyNew skips what is stored; stop() ends a waiting loop and deletes the consumer", async () => {
    const actorId = `ledger-${randomUUID()}`;
    await client.save(event(actorId, 1));
    const sub = await client.subscribe({ actorId, onlyNew: true });
    expect(sub.backlog).toBe(0);
    const received: number[] = [];
    const loop = (async () => {
      for await (const item of sub) received.push(item.event!.version);
    })();
    await client.save(event(actorId, 2));
    while (received.length === 0) await new Promise((r) => setTimeout(r, 10));
    await sub.stop();
    await loop;
    expect(received).toEqual([2]);
    expect(await consumerCount()).toBe(0);
  });

  it("refuses contradictory options", async () => {
    await expect(client.subscribe({ actorId: "a-1", actorType: "a" })).rejects.toBeInstanceOf(ValidationError);
    await expect(client.subscribe({ fromSequence: 0 })).rejects.toBeInstanceOf(ValidationError);
    await expect(client.subscribe({ fromSequence: 3, onlyNew: true })).rejects.toBeInstanceOf(ValidationError);
  });
});

describe("a subscription stopped before any event", () => {
  it("stops at once and deletes its consumer", async () => {
    const sub = await client.subscribe({ actorId: `ledger-${randomUUID()}` });
    expect(sub.backlog).toBe(0);
    await sub.stop();
    expect(await consumerCount()).toBe(0);
  });
});
