import { randomUUID } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { EventStoreClient } from "../../src/client/client.js";
import { ConditionFailedError, VersionConflictError } from "../../src/contract/errors.js";
import type { Event, Query, QueryItem } from "../../src/contract/types.js";
import { event } from "../harness/events.js";
import { useService } from "../harness/fixture.js";

// The TypeScript client's contract v3 against the running service, on each backend: tags kept,
// read paged through the whole log (every test reads a tag of its own, so that the others' events
// do not count), and conditions on append and transact.

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const entry of iterable) out.push(entry);
  return out;
}

const tagged = (actorId: string, version: number, tags: string[], eventType = "Tested"): Event =>
  event(actorId, version, { tags, eventType });
const query = (...items: QueryItem[]): Query => ({ items: items as Query["items"] });
/** A query of one item: these tags (all of them), of these types when given. */
const one = (tags: string[], types?: string[]): Query => query({ tags, ...(types ? { types } : {}) } as QueryItem);

describe.each(["memory", "jetstream"])("contract v3 through the TypeScript client (%s)", (backend) => {
  const f = useService({ env: { EVENTSTORE_BACKEND: backend } });
  let client: EventStoreClient;
  beforeAll(() => {
    client = new EventStoreClient(f.nc);
  });

  it("keeps an event's tags and returns them from events and read", async () => {
    const actorId = `course-${randomUUID()}`;
    const tags = [`course:${actorId}`, "term:2026"];
    const [position] = (await client.append(actorId, [tagged(actorId, 1, tags)])).sequences;
    const [stored] = await collect(client.events(actorId));
    expect(stored?.tags).toEqual(tags);
    expect(await collect(client.read(one([tags[0]!])))).toEqual([{ position, event: stored }]);
  });

  it("pages forwards and backwards through many pages, each event once, at the positions its writes answered", async () => {
    const actorId = `account-${randomUUID()}`;
    const tag = `ledger:${actorId}`;
    const positions: number[] = [];
    for (let v = 1; v <= 20; v++) {
      // Interleaved writes of another tag, which the read must skip.
      const other = `other-${randomUUID()}`;
      await client.append(other, [tagged(other, 1, [`noise:${actorId}`])]);
      positions.push(...(await client.append(actorId, [tagged(actorId, v, [tag])])).sequences);
    }
    const forwards = client.read(one([tag]), { pageSize: 3 });
    expect((await collect(forwards)).map((e) => e.position)).toEqual(positions);
    expect(forwards.head).toBeGreaterThanOrEqual(positions.at(-1)!);
    const backwards = await collect(client.read(one([tag]), { backwards: true, pageSize: 3 }));
    expect(backwards.map((e) => e.position)).toEqual([...positions].reverse());
    expect(backwards.map((e) => e.event.version)).toEqual(positions.map((_, i) => 20 - i));
    // from a position on (inclusive), and down from one
    expect((await collect(client.read(one([tag]), { from: positions[14]!, pageSize: 2 }))).map((e) => e.position)).toEqual(
      positions.slice(14),
    );
    expect((await collect(client.read(one([tag]), { from: positions[4]!, backwards: true, pageSize: 2 }))).map((e) => e.position)).toEqual(
      positions.slice(0, 5).reverse(),
    );
    // the latest one, and at most a few
    expect((await collect(client.read(one([tag]), { backwards: true, limit: 1 }))).map((e) => e.position)).toEqual([positions[19]]);
    expect(await collect(client.read(one([tag]), { limit: 7, pageSize: 3 }))).toHaveLength(7);
  });

  it("matches items by type and every tag, and a query by any item", async () => {
    const id = randomUUID();
    const [a, b, c] = [`a:${id}`, `b:${id}`, `c:${id}`];
    const actorId = `thing-${id}`;
    const { sequences } = await client.append(actorId, [
      tagged(actorId, 1, [a], "Opened"),
      tagged(actorId, 2, [a, b], "Changed"),
      tagged(actorId, 3, [b], "Changed"),
      tagged(actorId, 4, [c], "Closed"),
    ]);
    const read = async (query: Query) => (await collect(client.read(query))).map((e) => e.position);
    expect(await read(one([a]))).toEqual([sequences[0], sequences[1]]);
    expect(await read(one([a, b]))).toEqual([sequences[1]]);
    expect(await read(one([b], ["Changed"]))).toEqual([sequences[1], sequences[2]]);
    expect(await read(one([a], ["Closed"]))).toEqual([]);
    expect(await read(query({ tags: [a] }, { tags: [c] }))).toEqual([sequences[0], sequences[1], sequences[3]]);
  });

  it("a condition refuses a write when a matching event lies after `after`, with its position, and stores nothing", async () => {
    const username = `username:${randomUUID()}`;
    const claim = { failIfEventsMatch: one([username]) };
    const first = `user-${randomUUID()}`;
    const stored = await client.append(first, [tagged(first, 1, [username], "UsernameClaimed")], { condition: claim });
    const second = `user-${randomUUID()}`;
    const refused = await client
      .append(second, [tagged(second, 1, [username], "UsernameClaimed")], { condition: claim })
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ConditionFailedError);
    expect((refused as ConditionFailedError).position).toBe(stored.sequences[0]);
    expect(await client.version(second)).toBe(0);
    // A decision made on a read: its head as `after` lets the write through; an event since refuses it.
    const seen = client.read(one([username]));
    await collect(seen);
    await client.append(first, [tagged(first, 2, [username], "UsernameReleased")], { condition: { ...claim, after: seen.head } });
    const late = await client
      .append(second, [tagged(second, 1, [username], "UsernameClaimed")], { condition: { ...claim, after: seen.head } })
      .catch((e: unknown) => e);
    expect(late).toBeInstanceOf(ConditionFailedError);
  });

  it("a condition on other tags or types does not refuse; a retry of a stored conditional write is a duplicate", async () => {
    const id = randomUUID();
    const actorId = `course-${id}`;
    await client.append(actorId, [tagged(actorId, 1, [`course:${id}`], "CourseDefined")]);
    const condition = { failIfEventsMatch: one([`course:${id}`], ["CourseCancelled"]) };
    const e = tagged(actorId, 2, [`course:${id}`], "StudentSubscribed");
    const stored = await client.append(actorId, [e], { condition });
    // Its own event matches { tags: [course] }: the retry still answers duplicate.
    const again = await client.append(actorId, [e], { condition: { failIfEventsMatch: one([`course:${id}`]) } });
    expect(again).toEqual({ ...stored, duplicate: true });
  });

  it("transact takes a condition; a version conflict under a condition stays a VersionConflictError", async () => {
    const id = randomUUID();
    const [course, student] = [`course-${id}`, `student-${id}`];
    const tags = [`course:${id}`, `student:${id}`];
    const condition = { failIfEventsMatch: query({ tags: [`course:${id}`] }, { tags: [`student:${id}`] }) };
    const first = await client.transact(
      [
        { actorId: course, events: [tagged(course, 1, tags, "StudentSubscribed")] },
        { actorId: student, events: [tagged(student, 1, tags, "StudentSubscribed")] },
      ],
      { condition },
    );
    const refused = await client
      .transact([{ actorId: course, events: [tagged(course, 2, tags, "StudentSubscribed")] }], { condition })
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ConditionFailedError);
    expect((refused as ConditionFailedError).position).toBe(first.appends[1]!.sequences[0]);
    const behind = await client
      .append(course, [tagged(course, 1, tags)], { condition: { ...condition, after: first.appends[1]!.sequences[0] } })
      .catch((e: unknown) => e);
    expect(behind).toBeInstanceOf(VersionConflictError);
  });
});
