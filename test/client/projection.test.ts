import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { EventStoreClient } from "../../src/client/client.js";
import type { Projection } from "../../src/client/projection.js";
import type { StreamEvent } from "../../src/client/subscribe.js";
import { ValidationError } from "../../src/contract/errors.js";
import { Headers } from "../../src/contract/subjects.js";
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
    expect(seen[10]).toEqual({ sequence: 11, erased: tombstone, epoch: expect.any(Number) });
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

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** A handler that records each sequence and holds the event `at` until released. */
function holdingAt(at: number) {
  const seen: number[] = [];
  let release!: () => void;
  let holding = false;
  const held = new Promise<void>((resolve) => (release = resolve));
  const handler = async (i: StreamEvent) => {
    seen.push(i.sequence);
    if (i.sequence === at) {
      holding = true;
      await held;
    }
  };
  return { seen, handler, release: () => release(), isHolding: () => holding };
}

describe("resets and removals reach the running processes at once", () => {
  it.each(["ordered", "shared"] as const)(
    "%s: after a forward reset returns, the next event handled is the first at or after the target",
    async (mode) => {
      await publishEvents(nc, 11, 190);
      const name = `forward-${mode}`;
      const h = holdingAt(5);
      await project(name, h.handler, { mode, batch: 64 });
      await until(h.isHolding, 10_000, "the handler to hold event 5");
      try {
        // Events after 5 are fetched (buffered) while it holds.
        expect(await store.resetProjection(name, { seq: 150 })).toBe(150);
        // The reset's first delivery has left the server, and a round trip later it has arrived.
        const jsm = await jetstreamManager(nc);
        await expect
          .poll(async () => (await jsm.consumers.info("EVENTS", `proj-${name}`)).delivered.stream_seq, { timeout: 10_000 })
          .toBeGreaterThanOrEqual(150);
        await nc.flush();
      } finally {
        h.release();
      }
      await until(() => h.seen.length >= 5 + 51, 20_000, "the events from 150 on");
      expect(h.seen).toEqual([...range(1, 5), ...range(150, 200)]);
    },
  );

  it.each(["ordered", "shared"] as const)(
    "%s: remove stops the running process before it handles what it fetched; status says removed",
    async (mode) => {
      await publishEvents(nc, 11, 190);
      const h = holdingAt(5);
      const p = await project(`removed-${mode}`, h.handler, { mode, batch: 64 });
      await until(h.isHolding, 10_000, "the handler to hold event 5");
      try {
        expect(await store.removeProjection(`removed-${mode}`)).toBe(true);
        await expect.poll(async () => (await p.status()).state).toBe("removed");
      } finally {
        h.release();
      }
      await p.done();
      expect(h.seen).toEqual([1, 2, 3, 4, 5]);
      expect(await p.status()).toMatchObject({ state: "removed", ackFloor: 0, pending: 0 });
    },
  );
});

describe("several processes", () => {
  it("with onFailure skip, every skipped sequence is recorded (none lost to a concurrent process)", async () => {
    await publishEvents(nc, 11, 50);
    const skipped = new Set<number>();
    for (let i = 0; i < 3; i++) {
      const p = await project(
        "skip-many",
        () => {
          throw new Error("bad event");
        },
        { mode: "shared", maxAttempts: 1, onFailure: "skip", batch: 8 },
      );
      p.on("skipped", ({ sequence }) => skipped.add(sequence));
    }
    await until(() => skipped.size === 60, 20_000, "60 skips");
    const listed = (await store.projections()).find((x) => x.name === "skip-many")!;
    expect([...listed.skipped].sort((a, b) => a - b)).toEqual(range(1, 60));
  });

  it("refuses a process that asks for other settings than the projection has, naming them; without settings it takes the projection's", async () => {
    running.push(await store.project("settings", () => undefined, { pinTtlMs: 30_000, batch: 64, ackWaitMs: 20_000 }));
    await expect(store.project("settings", () => undefined, { pinTtlMs: 3000 })).rejects.toThrow(
      /runs with pinTtlMs 30000; this process asked for pinTtlMs 3000/,
    );
    await expect(store.project("settings", () => undefined, { batch: 32 })).rejects.toThrow(/runs with batch 64/);
    await expect(store.project("settings", () => undefined, { ackWaitMs: 30_000 })).rejects.toThrow(ValidationError);
    const seen: number[] = [];
    const standby = await store.project("settings", (i) => void seen.push(i.sequence), { pinTtlMs: 30_000 });
    running.push(standby);
    expect((await standby.status()).state).toBe("standby");
  });

  it("shared: drops deliveries from another consumer and outside its filter", async () => {
    const js = jetstream(nc);
    const account = (n: number) =>
      js.publish(`EVENTS.events.account.account-${n}`, JSON.stringify({ id: `a-${n}`, actorId: `account-${n}`, version: 1, data: {} }));
    await account(1);
    await account(2);
    const seen: StreamEvent[] = [];
    const watcher = nc.subscribe("$JS.API.CONSUMER.MSG.NEXT.EVENTS.proj-orders-only", { max: 1 });
    await project("orders-only", (i) => void seen.push(i), { mode: "shared", actorType: "order" });
    await until(() => seen.length === 10, 10_000, "the 10 order events");
    // The projection's inbox, from one of its pulls.
    let inbox = "";
    for await (const pull of watcher) inbox = pull.reply!;
    const jsm = await jetstreamManager(nc);
    await jsm.consumers.add("EVENTS", { durable_name: "other", ack_policy: AckPolicy.Explicit });
    // Another consumer of the stream delivers its 12 messages (orders and accounts) into the projection's inbox,
    nc.publish("$JS.API.CONSUMER.MSG.NEXT.EVENTS.other", JSON.stringify({ batch: 12 }), { reply: inbox });
    // and someone publishes there an account event with an ack subject of the projection's own consumer.
    nc.publish(inbox, JSON.stringify({ id: "forged", actorId: "account-9", version: 1, data: {} }), {
      reply: "$JS.ACK.EVENTS.proj-orders-only.1.12.12.0.0",
    });
    await expect.poll(async () => (await jsm.consumers.info("EVENTS", "other")).delivered.stream_seq).toBe(12);
    await nc.flush();
    await publishEvents(nc, 100, 1);
    await until(() => seen.length >= 11, 10_000, "the new order event");
    expect(seen.map((i) => i.sequence)).toEqual([...range(1, 10), 13]);
    expect(seen.every((i) => i.event?.actorId.startsWith("order-"))).toBe(true);
  });
});
