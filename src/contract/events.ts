import type { Event } from "./types.js";

/** An event as stored: the service has set its timestamp. */
export type StoredEvent = Event & { timestamp: string };

/** One actor's events in a transaction (the request's shape, without the schema's length bounds). */
export interface ActorEvents {
  actorId: string;
  events: Event[];
}
