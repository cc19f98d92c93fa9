import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ValidationError, VersionConflictError } from "../../contract/errors.js";
import type { Event } from "../../contract/types.js";
import { schemasDir } from "../paths.js";

/** A request schema, for the limits it states: they are written there once, and read here. */
function requestSchema(file: string): { properties: Record<string, { maxItems: number }> } {
  return JSON.parse(readFileSync(join(schemasDir(), file), "utf8"));
}

/**
 * Most events one append takes: nats-server's default atomic batch limit (jetstream.limits.batch.max_msgs),
 * the maxItems of schemas/append.request.json.
 */
export const MAX_APPEND_EVENTS = requestSchema("append.request.json").properties.events!.maxItems;

/** An append's events must all be the request's actor's, with consecutive versions, at most MAX_APPEND_EVENTS. */
export function checkAppendBatch(actorId: string, events: Event[]): void {
  checkActorEvents(actorId, events, "/events");
  checkDistinctIds(events, "/events");
}

// At most this many actors in one transaction: the maxItems of schemas/transact.request.json.
export const MAX_TRANSACT_ACTORS = requestSchema("transact.request.json").properties.appends!.maxItems;

/**
 * A transaction: 1..MAX_TRANSACT_ACTORS distinct actors, each with the events of an append, at
 * most MAX_APPEND_EVENTS events in all (one atomic batch), and no id twice in the request.
 */
export function checkTransaction(appends: { actorId: string; events: Event[] }[]): void {
  if (appends.length === 0 || appends.length > MAX_TRANSACT_ACTORS) {
    throw fieldError("/appends", `must hold 1 to ${MAX_TRANSACT_ACTORS} actors, not ${appends.length}`);
  }
  const actors = new Set<string>();
  let total = 0;
  for (const [i, { actorId, events }] of appends.entries()) {
    if (actors.has(actorId)) throw fieldError(`/appends/${i}/actorId`, "lists an actor a second time (each actor once)");
    actors.add(actorId);
    checkActorEvents(actorId, events, `/appends/${i}/events`);
    total += events.length;
  }
  if (total > MAX_APPEND_EVENTS) throw fieldError("/appends", `must hold at most ${MAX_APPEND_EVENTS} events in all, not ${total}`);
  checkDistinctIds(
    appends.flatMap((a) => a.events),
    "/appends",
  );
}

function checkActorEvents(actorId: string, events: Event[], path: string): void {
  if (events.length === 0 || events.length > MAX_APPEND_EVENTS) {
    throw fieldError(path, `must hold 1 to ${MAX_APPEND_EVENTS} events, not ${events.length}`);
  }
  for (const [i, event] of events.entries()) {
    if (event.actorId !== actorId) throw fieldError(`${path}/${i}/actorId`, "must equal the actorId it is listed under");
    if (i > 0 && event.version !== events[i - 1]!.version + 1) {
      throw fieldError(`${path}/${i}/version`, `must be ${events[i - 1]!.version + 1}: versions are consecutive`);
    }
  }
}

function checkDistinctIds(events: Event[], path: string): void {
  if (new Set(events.map((e) => e.id)).size !== events.length) throw fieldError(path, "has two events with the same id");
}

function fieldError(path: string, message: string): ValidationError {
  return new ValidationError(`${path} ${message}`, [{ path, message }]);
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

/** nats-server was configured with a lower atomic batch limit than MAX_APPEND_EVENTS: the batch of `count` messages was refused. */
export function serverBatchLimitError(count: number, path = "/events"): ValidationError {
  return new ValidationError(
    `${path}: the write's ${count} messages (events, tag links, condition guards) are more than this nats-server takes in one atomic batch (jetstream.limits.batch.max_msgs)`,
    [{ path, message: "more messages than the nats-server's atomic batch limit" }],
  );
}

/** What one write's atomic batch holds: its events and the messages a store adds for their tags and its condition. */
export interface BatchMessages {
  events: number;
  /** One per actor and distinct tag of its events. */
  links: number;
  /** One per condition guard on a tag the write does not carry. */
  guards: number;
}

/**
 * A write is one atomic batch of at most MAX_APPEND_EVENTS messages (nats-server's default limit),
 * tag links and guard messages included: over it, a 400 that names the limit, before anything is sent.
 */
export function checkBatchMessages(m: BatchMessages, path: string): void {
  const count = m.events + m.links + m.guards;
  if (count <= MAX_APPEND_EVENTS) return;
  throw fieldError(
    path,
    `needs ${count} messages in one atomic batch (${m.events} events, ${m.links} tag links, ${m.guards} condition guards), ` +
      `more than the ${MAX_APPEND_EVENTS} a nats-server takes by default (jetstream.limits.batch.max_msgs)`,
  );
}
