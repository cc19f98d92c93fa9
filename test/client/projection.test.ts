import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { EventStoreClient } from "../../src/client/client.js";
import type { Projection } from "../../src/client/projection.js";
import type { StreamEvent } from "../../src/client/subscribe.js";
import { ValidationError } from "../../src/errors.js";
import { Headers } from "../../src/subjects.js";
import { type NatsServer, startNatsServer } from "../harness/nats-server.js";
import { createEventsStream, publishEvents, until } from "../harness/projection-processes.js";

let server: NatsServer;
let nc: NatsConnection;
let store: EventStoreClient;
const running: Projection[] = [];

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  store = new EventStoreClient(nc, { stream: "EVENTS" });
});
afterAll(async () => {
  await nc?.close();
  await server?.stop();
});
beforeEach(async () => {
  await createEventsStream(nc);
  await publishEvents(nc, 1, 10);
});
afterEach(async () => {
  for (const p of running.splice(0)) await p.stop();
  await (await jetstreamManager(nc)).streams.delete("EVENTS");
});

async function project(name: string, handler: (item: StreamEvent) => unknown, options: Parameters<EventStoreClient["project"]>[2] = {}) {
  const p = await store.project(name, handler, { pinTtlMs: 3000, initialDelayMs: 10, maxDelayMs: 40, ...options });
  running.push(p);
  return p;
}

const sequences = (items: StreamEvent[]) => items.map((i) => i.sequence);

describe("a projection", () => {
  it("refuses a name outside [A-Za-z0-9_-]{1,64}, naming the rule", async () => {
    for (const name of ["", "a.b", "a b", "x".repeat(65)]) {
      const err = await store.project(name, () => undefined).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as Error).message).toContain("^[A-Za-z0-9_-]{1,64}$");
    }
  });

  it("is a durable consumer proj-<name> whose ack floor is the checkpoint: a new process resumes after it", async () => {
    const seen: StreamEvent[] = [];
    const first = await project("resume", (i) => void seen.push(i));
    const active = new Promise((resolve) => first.once("active", resolve));
    await new Promise<void>((resolve) => first.once("started", resolve));
    await expect(active).resolves.toMatchObject({ pinId: expect.any(String) });
    await until(() => seen.length === 10, 10_000, "10 events");
    await first.stop();
    // stop() waits for the last acknowledgement to be confirmed.
    expect((await first.status()).ackFloor).toBe(10);
    await publishEvents(nc, 11, 5);
    const later: StreamEvent[] = [];
    await project("resume", (i) => void later.push(i));
    await until(() => later.length === 5, 10_000, "the 5 new events");
    expect(sequences(later)).toEqual([11, 12, 13, 14, 15]);
    expect(later[0]!.event).toMatchObject({ id: "e-11", actorId: "order-11" });
    const info = await (await jetstreamManager(nc)).consumers.info("EVENTS", "proj-resume");
    expect(info.config).toMatchObject({ filter_subject: "EVENTS.events.>", priority_policy: "pinned_client", priority_timeout: 3e9 });
  });

  it("filters to one actor type, and starts where from says", async () => {
    const js = jetstream(nc);
    await js.publish("EVENTS.events.invoice.invoice-1", JSON.stringify({ id: "i-1", actorId: "invoice-1", version: 1, data: {} }));
    const invoices: StreamEvent[] = [];
    await project("invoices", (i) => void invoices.push(i), { actorType: "invoice" });
    const fromSeq: StreamEvent[] = [];
    await project("from-seq", (i) => void fromSeq.push(i), { from: { seq: 8 } });
    const onlyNew: StreamEvent[] = [];
    await project("only-new", (i) => void onlyNew.push(i), { from: "new", mode: "shared" });
    await publishEvents(nc, 100, 1);
    await until(() => invoices.length === 1 && fromSeq.length === 5 && onlyNew.length === 1, 10_000, "the events");
    expect(sequences(invoices)).toEqual([11]);
    expect(sequences(fromSeq)).toEqual([8, 9, 10, 11, 12]);
    expect(sequences(onlyNew)).toEqual([12]);
    await expect((await jetstreamManager(nc)).consumers.info("EVENTS", "proj-invoices")).resolves.toMatchObject({
      config: { filter_subject: "EVENTS.events.invoice.>" },
    });
  });

  it("refuses to run with another mode or filter than the projection has", async () => {
    await project("fixed", () => undefined);
    await expect(store.project("fixed", () => undefined, { mode: "shared" })).rejects.toThrow(/exists as ordered.*projections rm/);
    await expect(store.project("fixed", () => undefined, { actorType: "order" })).rejects.toThrow(ValidationError);
  });

  it("hands an erased actor's tombstone to the handler as erased", async () => {
    const h = headers();
    h.set(Headers.erased, "2026-01-01T00:00:00Z");
    const tombstone = { actorId: "order-3", version: 3, erasedAt: "2026-01-01T00:00:00Z" };
    await jetstream(nc).publish("EVENTS.events.order.order-3", JSON.stringify(tombstone), { headers: h });
    const seen: StreamEvent[] = [];
    await project("tombstones", (i) => void seen.push(i));
    await until(() => seen.length === 11, 10_000, "11 items");
    expect(seen[10]).toEqual({ sequence: 11, erased: tombstone });
  });
});

describe("a throwing handler", () => {
  const failingOn = (bad: number, seen: number[], attempts: number[]) => (i: StreamEvent) => {
    if (i.sequence === bad) {
      attempts.push(Date.now());
      throw new Error(`cannot apply ${i.sequence}`);
    }
    seen.push(i.sequence);
  };

  it("is retried with backoff, then stops the projection with the failing sequence (not acknowledged)", async () => {
    const seen: number[] = [];
    const attempts: number[] = [];
    const retries: { attempt: number; delayMs: number }[] = [];
    const p = await project("fails", failingOn(5, seen, attempts), { maxAttempts: 4 });
    p.on("retry", ({ attempt, delayMs, sequence }) => {
      expect(sequence).toBe(5);
      retries.push({ attempt, delayMs });
    });
    const failed = new Promise((resolve) => p.once("failed", resolve));
    await expect(failed).resolves.toMatchObject({ sequence: 5, error: { message: "cannot apply 5" } });
    await p.done();
    expect(attempts).toHaveLength(4);
    expect(retries.map((r) => r.attempt)).toEqual([1, 2, 3]);
    // Exponential: each pause is drawn from the upper half of a doubling ceiling (10, 20, 40 ms).
    expect(retries[2]!.delayMs).toBeGreaterThanOrEqual(20);
    expect(seen).toEqual([1, 2, 3, 4]);
    // Acknowledgements are sent without waiting for the server: the ack floor gets there shortly.
    await expect.poll(() => p.status()).toMatchObject({ state: "failed", failure: { sequence: 5 }, ackFloor: 4, skipped: [] });
    await expect.poll(() => store.projections()).toContainEqual(expect.objectContaining({ name: "fails", failed: 5, ackFloor: 4 }));
  });

  it("with onFailure skip, skips the event and records its sequence where ls shows it", async () => {
    const seen: number[] = [];
    const skipped: number[] = [];
    const p = await project("skips", failingOn(5, seen, []), { maxAttempts: 2, onFailure: "skip", mode: "shared" });
    p.on("skipped", ({ sequence }) => skipped.push(sequence));
    await until(() => seen.length === 9, 10_000, "9 events");
    expect(seen).toEqual([1, 2, 3, 4, 6, 7, 8, 9, 10]);
    expect(skipped).toEqual([5]);
    expect(await p.status()).toMatchObject({ state: "running", skipped: [5] });
    await expect
      .poll(() => store.projections())
      .toContainEqual(expect.objectContaining({ name: "skips", mode: "shared", skipped: [5], ackFloor: 10, pending: 0 }));
  });
});

describe("reset and remove", () => {
  it("a reset of a running projection replays from the given point without a restart", async () => {
    const seen: number[] = [];
    const p = await project("replay", (i) => void seen.push(i.sequence));
    await until(() => seen.length === 10, 10_000, "10 events");
    expect(await store.resetProjection("replay", { seq: 7 })).toBe(7);
    await until(() => seen.length === 14, 10_000, "the replay of 7..10");
    expect(seen.slice(10)).toEqual([7, 8, 9, 10]);
    expect(await store.resetProjection("replay", "start")).toBe(1);
    await until(() => seen.length === 24, 10_000, "the replay from the start");
    expect(seen.slice(14)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect((await p.status()).state).toBe("active");
  });

  it("a reset to a time resumes at the first event stored at or after it", async () => {
    const seen: number[] = [];
    await project("by-time", (i) => void seen.push(i.sequence));
    await until(() => seen.length === 10, 10_000, "10 events");
    await new Promise((r) => setTimeout(r, 20));
    const time = new Date();
    await publishEvents(nc, 11, 2);
    await until(() => seen.length === 12, 10_000, "12 events");
    expect(await store.resetProjection("by-time", { time })).toBe(11);
    await until(() => seen.length === 14, 10_000, "the replay");
    expect(seen.slice(12)).toEqual([11, 12]);
  });

  it("a reset never goes below the projection's start; unknown projections are not found", async () => {
    const seen: number[] = [];
    await project("late", (i) => void seen.push(i.sequence), { from: { seq: 6 } });
    await until(() => seen.length === 5, 10_000, "5 events");
    expect(await store.resetProjection("late", "start")).toBe(6);
    await expect(store.resetProjection("late", { seq: 2 })).rejects.toThrow(/below start/);
    await expect(store.resetProjection("nobody", "start")).rejects.toThrow(/no projection "nobody"/);
  });

  it("remove deletes the consumer, and the running projection ends", async () => {
    const p = await project("gone", () => undefined);
    expect(await store.removeProjection("gone")).toBe(true);
    await p.done();
    await expect((await jetstreamManager(nc)).consumers.info("EVENTS", "proj-gone")).rejects.toThrow(/consumer not found/);
    expect(await store.removeProjection("gone")).toBe(false);
    expect((await store.projections()).map((x) => x.name)).not.toContain("gone");
  });

  it("stop() finishes the event in hand and acknowledges it", async () => {
    let release!: () => void;
    const handled: number[] = [];
    const p = await project("drain", async (i) => {
      if (i.sequence === 3) await new Promise<void>((r) => (release = r));
      handled.push(i.sequence);
    });
    await until(() => release !== undefined, 10_000, "the handler to hold event 3");
    const stopped = p.stop();
    release();
    await stopped;
    expect(handled).toEqual([1, 2, 3]);
    expect((await p.status()).ackFloor).toBe(3);
  });
});
