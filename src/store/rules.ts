import { ValidationError } from "../errors.js";
import type { Event } from "../schemas/types.js";

/** An append's events must all be the request's actor's, with consecutive versions. */
export function checkAppendBatch(actorId: string, events: Event[]): void {
  events.forEach((event, i) => {
    if (event.actorId !== actorId) {
      throw new ValidationError(`/events/${i}/actorId must equal the request's actorId`, [
        { path: `/events/${i}/actorId`, message: "must equal the request's actorId" },
      ]);
    }
    if (i > 0 && event.version !== events[i - 1]!.version + 1) {
      throw new ValidationError(`/events/${i}/version must be ${events[i - 1]!.version + 1} (versions are consecutive)`, [
        { path: `/events/${i}/version`, message: "must follow the previous event's version by 1" },
      ]);
    }
  });
  const ids = new Set(events.map((e) => e.id));
  if (ids.size !== events.length) {
    throw new ValidationError("/events has two events with the same id", [
      { path: "/events", message: "event ids must be unique" },
    ]);
  }
}

export function idReusedError(id: string): ValidationError {
  return new ValidationError(`event id ${JSON.stringify(id)} is already used by another event`, [
    { path: "/id", message: "is already used by another event" },
  ]);
}
