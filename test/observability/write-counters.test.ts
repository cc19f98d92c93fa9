import type { ServiceMsg } from "@nats-io/services";
import { describe, expect, it } from "vitest";
import type { EndpointName } from "../../src/contract/endpoints.js";
import { EventStoreError } from "../../src/contract/errors.js";
import { ServiceMetrics } from "../../src/server/observability/metrics.js";
import { instruments } from "../../src/server/observability/observers.js";
import { OPERATIONS } from "../../src/server/service/operations.js";
import type { Answer } from "../../src/server/service/service.js";
import { counterData } from "../../src/server/service/stats.js";
import { MemoryEventStore } from "../../src/server/store/memory.js";
import { event, events } from "../harness/events.js";

// A conflict or a duplicate is counted once, by the store where it decides it; the metrics
// (eventstore_conflicts_total, eventstore_duplicates_total) and $SRV.STATS both report that count.

const WRITES = ["save", "append", "transact", "snapshot_save"] as const;
type Figures = Record<(typeof WRITES)[number], { conflicts: number; duplicates: number }>;

function fixture() {
  const store = new MemoryEventStore();
  const metrics = new ServiceMetrics();
  metrics.watchStore(store);
  const { requests } = instruments({ metrics, tracing: false, queue: "eventstore" });
  /** One request as the service answers it: through the request observer, a refusal as its code. */
  const answer = (endpoint: EndpointName, handle: () => Promise<Answer>) => requests.observe(endpoint, {} as ServiceMsg, handle);
  const request = (endpoint: EndpointName, operation: () => Promise<unknown>) =>
    answer(endpoint, async () => {
      try {
        return { code: 0, reply: await operation() };
      } catch (err) {
        if (err instanceof EventStoreError) return { code: err.code };
        throw err;
      }
    });
  /** The metrics' figures, as a scrape reads them. */
  const scraped = async (): Promise<Figures> => {
    const read = async (name: string) => {
      const values = (await metrics.registry.getSingleMetric(name)!.get()).values;
      return (endpoint: string) => values.find((v) => v.labels.endpoint === endpoint)?.value;
    };
    const conflicts = await read("eventstore_conflicts_total");
    const duplicates = await read("eventstore_duplicates_total");
    return Object.fromEntries(WRITES.map((e) => [e, { conflicts: conflicts(e), duplicates: duplicates(e) }])) as Figures;
  };
  /** The figures $SRV.STATS reports in each write endpoint's data. */
  const stats = (): Figures =>
    Object.fromEntries(
      WRITES.map((e) => {
        const { conflicts, duplicates } = counterData(store.counters[OPERATIONS[e].counters!]);
        return [e, { conflicts, duplicates }];
      }),
    ) as Figures;
  return { store, answer, request, scraped, stats };
}

describe("the write counters of /metrics and of $SRV.STATS", () => {
  it("count each conflict and each duplicate once, and report the same figures", async () => {
    const { store, request, scraped, stats } = fixture();
    const first = event("order-1", 1);
    expect(await request("save", () => store.save(first))).toMatchObject({ code: 0 });
    expect(await request("save", () => store.save(first))).toMatchObject({ code: 0, reply: { duplicate: true } });
    expect(await request("save", () => store.save(event("order-1", 1)))).toEqual({ code: 409 });
    expect(await request("save", () => store.save(event("order-1", 1)))).toEqual({ code: 409 });
    const batch = events("order-2", 1, 2);
    expect(await request("append", () => store.append("order-2", batch))).toMatchObject({ code: 0 });
    expect(await request("append", () => store.append("order-2", batch))).toMatchObject({ code: 0, reply: { duplicate: true } });
    expect(await request("append", () => store.append("order-2", events("order-2", 2, 2)))).toEqual({ code: 409 });
    const both = [
      { actorId: "order-3", events: events("order-3", 1, 1) },
      { actorId: "order-4", events: events("order-4", 1, 2) },
    ];
    expect(await request("transact", () => store.transact(both))).toMatchObject({ code: 0 });
    expect(await request("transact", () => store.transact(both))).toMatchObject({ code: 0, reply: { duplicate: true } });
    const behind = [{ actorId: "order-4", events: events("order-4", 1, 1) }];
    expect(await request("transact", () => store.transact(behind))).toEqual({ code: 409 });
    const ahead = { actorId: "order-1", version: 5, state: {} };
    expect(await request("snapshot_save", () => store.saveSnapshot(ahead))).toEqual({ code: 409 });

    const expected: Figures = {
      save: { conflicts: 2, duplicates: 1 },
      append: { conflicts: 1, duplicates: 1 },
      transact: { conflicts: 1, duplicates: 1 },
      snapshot_save: { conflicts: 1, duplicates: 0 },
    };
    expect(stats()).toEqual(expected);
    expect(await scraped()).toEqual(expected);
  });

  it("take the store's count, not the reply's code: an answer adds no second count", async () => {
    const { store, answer, request, scraped, stats } = fixture();
    expect(await request("save", () => store.save(event("order-1", 2)))).toMatchObject({ code: 0 });
    // A 409 or a duplicate reply the store did not decide (none does today) is not one more conflict or duplicate.
    await answer("save", async () => ({ code: 409 }));
    await answer("save", async () => ({ code: 0, reply: { actorId: "order-1", version: 2, sequence: 1, duplicate: true } }));
    // One the store decided, as the service answers it.
    expect(await request("save", () => store.save(event("order-1", 1)))).toEqual({ code: 409 });
    expect((await scraped()).save).toEqual({ conflicts: 1, duplicates: 0 });
    expect(stats().save).toEqual({ conflicts: 1, duplicates: 0 });
  });
});
