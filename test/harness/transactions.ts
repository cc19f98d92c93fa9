import { randomUUID } from "node:crypto";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Event } from "../../src/contract/types.js";
import { event } from "./events.js";
import { request, untilAnswered } from "./requests.js";

const padding = "x".repeat(100);

/** An event with some bulk to it, so that a batch of them takes a while to pass. */
export const lineAdded = (actorId: string, version: number): Event =>
  event(actorId, version, { eventType: "LineAdded", data: { version, padding } });

/**
 * `count` new actors, every other one with `prior` events stored already (so that its expectation
 * is not zero), and a transaction of `eventsPerActor` events for each. The stored events are sent
 * until answered, as a cluster that elects a leader needs.
 */
export async function prepareTransaction(nc: NatsConnection, count: number, prior: number, eventsPerActor: number) {
  const actors = Array.from({ length: count }, (_, i) => ({ actorId: `order-${randomUUID()}`, prior: i % 2 === 0 ? prior : 0 }));
  for (const a of actors) {
    if (a.prior === 0) continue;
    const events = Array.from({ length: a.prior }, (_, v) => lineAdded(a.actorId, v + 1));
    const r = await untilAnswered(() => request(nc, "eventstore.append", { actorId: a.actorId, events }), 60_000);
    if (r.code !== 0) throw new Error(`append of ${a.actorId}'s prior events answered ${r.code}: ${JSON.stringify(r.body)}`);
  }
  const appends = actors.map(({ actorId, prior: p }) => ({
    actorId,
    events: Array.from({ length: eventsPerActor }, (_, v) => lineAdded(actorId, p + v + 1)),
  }));
  return { actors, appends };
}
