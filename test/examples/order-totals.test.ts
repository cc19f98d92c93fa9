import { randomUUID } from "node:crypto";
import { expect, it } from "vitest";
import { type OrderTotal, startOrderTotals } from "../../examples/order-totals.js";
import { EventStoreClient } from "../../src/client/client.js";
import { useService } from "../harness/fixture.js";

const f = useService();

it("examples/order-totals keeps each order's total in KV, and a replay from the start changes nothing", async () => {
  const client = new EventStoreClient(f.nc);
  const add = (actorId: string, version: number, price: number) =>
    client.save({ id: randomUUID(), eventType: "ItemAdded", actorId, version, data: { price } });
  await add("order-1", 1, 10);
  await add("order-1", 2, 5.5);
  await add("order-2", 1, 3);
  await client.save({ id: randomUUID(), eventType: "Registered", actorId: "customer-1", version: 1, data: {} });
  const { projection, model, store } = await startOrderTotals(f.nc);
  try {
    const row = (id: string) => model.get<OrderTotal>(id);
    await expect.poll(() => row("order-2")).toMatchObject({ total: 3, items: 1 });
    await expect.poll(() => row("order-1")).toEqual({ total: 15.5, items: 2 });
    expect(await row("customer-1")).toBeUndefined();

    // A replay delivers every event again: each row already holds it.
    expect(await store.resetProjection("order-totals", "start")).toBe(1);
    await client.erase("order-2");
    await expect.poll(() => row("order-2")).toMatchObject({ erased: true, total: 0 });
    expect(await row("order-1")).toEqual({ total: 15.5, items: 2 });
    await expect.poll(async () => (await projection.status()).pending).toBe(0);
  } finally {
    await projection.stop();
  }
});
