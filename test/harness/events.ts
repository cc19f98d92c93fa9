import { randomUUID } from "node:crypto";
import type { Event } from "../../src/contract/types.js";

// The one event factory of the tests: a test that needs another shape says so with `extra`.

/** An event of the actor at the version, with a fresh id; `extra` replaces any field (data included). */
export function event(actorId: string, version: number, extra: Partial<Event> = {}): Event {
  return { id: randomUUID(), eventType: "Tested", actorId, version, data: { n: version }, ...extra };
}

/** `count` events of the actor from version `from` on, each shaped by `extra` as in event(). */
export function events(actorId: string, from: number, count: number, extra: (version: number) => Partial<Event> = () => ({})): Event[] {
  return Array.from({ length: count }, (_, i) => event(actorId, from + i, extra(from + i)));
}
