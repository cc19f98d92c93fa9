// dcb.events "Unique username": a username is held by at most one user at a time; once its holder
// releases it (renamed, deleted), anyone may claim it again.
// Consistency boundary: claims and releases of one name, the query `{types: [UsernameClaimed,
// UsernameReleased], tags: ["username:<name>"]}`. The latest of them says who holds the name, so a
// decision reads that query backwards with limit 1 (the same cost however often the name changed
// hands) and appends with a condition on the same query after the read's head. The write is stored
// only if no claim or release of that name was stored since the read, whichever process or service
// replica wrote it: two users claiming one name at once cannot both succeed. Claims of different
// names never contend.
// Each event is version 1 of an actor of its own (a fresh `username-<uuid>`), so no actor's version
// serialises anything here: the condition alone does.
// In an application, import from "nats-eventstore".
import { randomUUID } from "node:crypto";
import type { Event, EventStoreClient, Query } from "../src/index.js";
import { type DecisionOptions, retryOnConditionFailed } from "./dcb-retry.js";

export const usernameTag = (username: string) => `username:${username}`;

/** The claims and releases of one username: the decision's query and its condition's. */
export const usernameQuery = (username: string): Query => ({
  items: [{ types: ["UsernameClaimed", "UsernameReleased"], tags: [usernameTag(username)] }],
});

export type Claim = { claimed: true; eventId: string; position: number } | { claimed: false; holder: string };
export type Release = { released: true; eventId: string; position: number } | { released: false; holder: string | undefined };

/** Claims `username` for `userId`; answers the current holder (possibly `userId` itself) when it is taken. */
export function claimUsername(client: EventStoreClient, username: string, userId: string, options: DecisionOptions = {}): Promise<Claim> {
  return retryOnConditionFailed(options, async () => {
    const { holder, head } = await holderOf(client, username);
    if (holder !== undefined) return { claimed: false, holder };
    const { eventId, position } = await appendAfter(client, username, head, "UsernameClaimed", userId);
    return { claimed: true, eventId, position };
  });
}

/** Releases `username` if `userId` holds it; answers who holds it (or nobody) otherwise. */
export function releaseUsername(
  client: EventStoreClient,
  username: string,
  userId: string,
  options: DecisionOptions = {},
): Promise<Release> {
  return retryOnConditionFailed(options, async () => {
    const { holder, head } = await holderOf(client, username);
    if (holder !== userId) return { released: false, holder };
    const { eventId, position } = await appendAfter(client, username, head, "UsernameReleased", userId);
    return { released: true, eventId, position };
  });
}

/** Who holds the name: the user of the latest claim, unless the latest is a release. */
async function holderOf(client: EventStoreClient, username: string): Promise<{ holder: string | undefined; head: number }> {
  const read = client.read(usernameQuery(username), { backwards: true, limit: 1 });
  let holder: string | undefined;
  for await (const { event } of read) if (event.eventType === "UsernameClaimed") holder = String(event.data.userId);
  // A read that ran to its end has a head (0 on an empty stream).
  return { holder, head: read.head ?? 0 };
}

/** Stores the event only if no claim or release of the name has been stored after `head`. */
async function appendAfter(client: EventStoreClient, username: string, head: number, eventType: string, userId: string) {
  const event: Event = {
    id: randomUUID(),
    eventType,
    actorId: `username-${randomUUID()}`,
    version: 1,
    data: { username, userId },
    tags: [usernameTag(username)],
  };
  const reply = await client.append(event.actorId, [event], { condition: { failIfEventsMatch: usernameQuery(username), after: head } });
  return { eventId: event.id, position: reply.sequences[0]! };
}
