// A read model kept by a projection: each order's total and item count, in a NATS KV bucket.
// KvReadModel applies each event exactly once and in order: it writes the rows together with a
// checkpoint (the last event applied, and the epoch of the process that wrote it), compare-and-set,
// so an event delivered again (at least once: after a crash, a failover or a reset) changes nothing,
// and a process that lost its turn while paused has its late writes refused.
// In an application, import from "nats-eventstore" (and read the bucket with "@nats-io/kv").
import type { NatsConnection } from "@nats-io/transport-node";
import { EventStoreClient, KvReadModel, type Projection, type ProjectOptions } from "../src/index.js";

export interface OrderTotal {
  total: number;
  items: number;
  erased?: boolean;
}

export async function startOrderTotals(nc: NatsConnection, options: { stream?: string; project?: ProjectOptions } = {}) {
  const model = await KvReadModel.open(nc, "order_totals");
  const store = new EventStoreClient(nc, options.stream === undefined ? {} : { stream: options.stream });
  const projection: Projection = await store.project(
    "order-totals",
    (item) =>
      model.apply(item, async (read) => {
        const orderId = item.event?.actorId ?? item.erased!.actorId;
        if (item.erased) return { [orderId]: { total: 0, items: 0, erased: true } };
        if (item.event.eventType !== "ItemAdded") return {};
        const row = (await read<OrderTotal>(orderId)) ?? { total: 0, items: 0 };
        return { [orderId]: { total: row.total + Number(item.event.data.price), items: row.items + 1 } };
      }),
    { actorType: "order", ...options.project },
  );
  return { projection, model, store };
}
