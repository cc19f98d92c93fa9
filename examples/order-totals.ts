// A read model kept by a projection: each order's total and item count, in a NATS KV bucket.
// Each row stores the stream sequence of the last event applied to it, so an event delivered
// again (at least once: after a crash, a failover or a reset) changes nothing.
// In an application, import from "nats-eventstore" and "@nats-io/kv".
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { EventStoreClient, type Projection } from "../src/index.js";

export interface OrderTotal {
  total: number;
  items: number;
  erased?: boolean;
  /** The stream sequence of the last event applied to this row. */
  lastSequence: number;
}

export async function startOrderTotals(nc: NatsConnection, options: { stream?: string } = {}) {
  const kv = await new Kvm(nc).create("order_totals");
  const store = new EventStoreClient(nc, options);
  const projection: Projection = await store.project(
    "order-totals",
    async ({ sequence, event, erased }) => {
      const orderId = event?.actorId ?? erased!.actorId;
      const entry = await kv.get(orderId);
      const row: OrderTotal = entry?.json<OrderTotal>() ?? { total: 0, items: 0, lastSequence: 0 };
      if (sequence <= row.lastSequence) return;
      if (erased) {
        await kv.put(orderId, JSON.stringify({ total: 0, items: 0, erased: true, lastSequence: sequence }));
      } else if (event!.eventType === "ItemAdded") {
        const price = Number(event!.data.price);
        await kv.put(orderId, JSON.stringify({ total: row.total + price, items: row.items + 1, lastSequence: sequence }));
      }
    },
    { actorType: "order" },
  );
  return { projection, kv, store };
}
