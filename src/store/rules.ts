import { ValidationError, VersionConflictError } from "../errors.js";
import type { Event } from "../schemas/types.js";

/**
 * Most events one append takes: nats-server's default atomic batch limit (jetstream.limits.batch.max_msgs),
 * as schemas/append.request.json says with maxItems.
 */
export const MAX_APPEND_EVENTS = 1000;

/** An append's events must all be the request's actor's, with consecutive versions, at most MAX_APPEND_EVENTS. */
export function checkAppendBatch(actorId: string, events: Event[]): void {
  if (events.length === 0 || events.length > MAX_APPEND_EVENTS) {
    throw new ValidationError(`/events must hold 1 to ${MAX_APPEND_EVENTS} events, not ${events.length}`, [
      { path: "/events", message: `must hold 1 to ${MAX_APPEND_EVENTS} events` },
    ]);
  }
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
    throw new ValidationError("/events has two events with the same id", [{ path: "/events", message: "event ids must be unique" }]);
  }
}

/** A snapshot may not claim a version the actor's events have not reached. */
export function snapshotAheadError(actorId: string, version: number, current: number): VersionConflictError {
  return new VersionConflictError(
    actorId,
    version,
    current,
    `snapshot of actor ${JSON.stringify(actorId)} at version ${version} is ahead of its latest event version ${current}`,
  );
}

/** nats-server was configured with a lower atomic batch limit than MAX_APPEND_EVENTS. */
export function serverBatchLimitError(count: number): ValidationError {
  return new ValidationError(
    `/events: ${count} events are more than this nats-server takes in one atomic batch (jetstream.limits.batch.max_msgs)`,
    [{ path: "/events", message: "more events than the nats-server's atomic batch limit" }],
  );
}
