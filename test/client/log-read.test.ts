import { ServiceErrorCodeHeader, ServiceErrorHeader } from "@nats-io/services";
import { headers, type Msg, type Subscription } from "@nats-io/transport-node";
import { describe, expect, it } from "vitest";
import { EventStoreClient } from "../../src/client/client.js";
import { LogRead, type ReadOptions } from "../../src/client/log-read.js";
import { ConditionFailedError, type EventStoreError, InternalError, VersionConflictError } from "../../src/contract/errors.js";
import type { Condition, PositionedEvent, Query, ReadRequest, ReadResponse } from "../../src/contract/types.js";
import { event } from "../harness/events.js";
import { useNatsServer } from "../harness/fixture.js";

// The client's side of contract v3: how LogRead pages through a log (against a log served by a
// function that follows the contract's paging rules, so that every page boundary is chosen here),
// and what append, transact and read put on the wire and make of the replies (against a stand-in
// service on a real nats-server). The stores' side is test/client/read-condition.test.ts.

/** A log of `count` events at positions with gaps (2, 5, 8, ...), as index messages leave them. */
function log(count: number): PositionedEvent[] {
  return Array.from({ length: count }, (_, i) => ({ position: 2 + 3 * i, event: event(`account-${i}`, 1) }));
}

/**
 * Serves read requests from `entries` as the contract says, `pageCap` events a page at most (what
 * fits in a reply), and records each request. `head` is asked at each page: a log may grow between.
 */
function served(entries: PositionedEvent[], pageCap = 4, head: () => number = () => entries.at(-1)?.position ?? 0) {
  const requests: ReadRequest[] = [];
  const readPage = async (request: ReadRequest): Promise<ReadResponse> => {
    requests.push(request);
    const ordered = request.backwards ? [...entries].reverse() : entries;
    const from = request.from ?? (request.backwards ? Number.POSITIVE_INFINITY : 0);
    const after = ordered.filter((e) => (request.backwards ? e.position <= from : e.position >= from));
    const size = Math.min(request.limit ?? pageCap, pageCap);
    return { events: after.slice(0, size), hasMore: after.length > size, head: head() };
  };
  return { requests, readPage };
}

async function collect(read: LogRead): Promise<number[]> {
  const positions: number[] = [];
  for await (const entry of read) positions.push(entry.position);
  return positions;
}

const positionsOf = (entries: PositionedEvent[]) => entries.map((e) => e.position);
const query: Query = { items: [{ types: ["Tested"], tags: ["course:c1"] }] };

describe("LogRead pages through the log", () => {
  it("forwards: every event once, in order, asking each next page from the last position + 1", async () => {
    const entries = log(23);
    const { requests, readPage } = served(entries, 1000);
    expect(await collect(new LogRead(readPage, query, { pageSize: 5 }))).toEqual(positionsOf(entries));
    expect(requests.map((r) => r.from)).toEqual([undefined, 15, 30, 45, 60]);
    expect(requests.every((r) => r.limit === 5 && r.backwards === undefined && r.query === query)).toBe(true);
  });

  it("backwards: every event once, descending, asking each next page from the last position - 1", async () => {
    const entries = log(23);
    const { requests, readPage } = served(entries, 1000);
    expect(await collect(new LogRead(readPage, undefined, { backwards: true, pageSize: 5 }))).toEqual(positionsOf(entries).reverse());
    expect(requests.map((r) => r.from)).toEqual([undefined, 55, 40, 25, 10]);
    expect(requests.every((r) => r.backwards === true && !("query" in r))).toBe(true);
  });

  it("follows hasMore when the service cuts pages short (what fits in a reply), without a pageSize", async () => {
    const entries = log(10);
    const { requests, readPage } = served(entries, 3);
    expect(await collect(new LogRead(readPage, undefined, { from: 5 }))).toEqual(positionsOf(entries).slice(1));
    expect(requests).toEqual([{ from: 5 }, { from: 12 }, { from: 21 }]);
  });

  it("limit: at most that many in all, asking no more than are still wanted", async () => {
    const entries = log(20);
    const paged = served(entries, 1000);
    expect(await collect(new LogRead(paged.readPage, undefined, { limit: 7, pageSize: 3 }))).toEqual(positionsOf(entries).slice(0, 7));
    expect(paged.requests.map((r) => r.limit)).toEqual([3, 3, 1]);
    // The latest event: one request of one event.
    const latest = served(entries, 1000);
    expect(await collect(new LogRead(latest.readPage, undefined, { backwards: true, limit: 1 }))).toEqual([59]);
    expect(latest.requests).toEqual([{ limit: 1, backwards: true }]);
  });

  it("limit above one request's maximum: the pages are as large as fit, and the iteration stops at the limit", async () => {
    const entries = log(12);
    const { requests, readPage } = served(entries, 5);
    expect(await collect(new LogRead(readPage, undefined, { limit: 20_000 }))).toEqual(positionsOf(entries));
    expect(requests.every((r) => r.limit === undefined)).toBe(true);
    const cut = served(entries, 5);
    expect(await collect(new LogRead(cut.readPage, undefined, { limit: 11, pageSize: 20_000 }))).toHaveLength(11);
  });

  it("refuses a limit that is not an integer >= 1", () => {
    const { readPage } = served([]);
    for (const limit of [0, -1, 1.5, Number.NaN]) expect(() => new LogRead(readPage, undefined, { limit })).toThrow(RangeError);
  });

  it("head: undefined before a page; forwards the last page's (or the latest event when stopped early), backwards the first page's", async () => {
    const entries = log(9);
    let head = 100;
    const forwards = new LogRead(served(entries, 4, () => head++).readPage, undefined, {});
    expect(forwards.head).toBeUndefined();
    await collect(forwards);
    expect(forwards.head).toBe(102);
    head = 100;
    const backwards = new LogRead(served(entries, 4, () => head++).readPage, undefined, { backwards: true });
    await collect(backwards);
    expect(backwards.head).toBe(100);
    // Stopped before the end, forwards: the latest event returned, not a head above events not read.
    head = 100;
    const limited = new LogRead(served(entries, 4, () => head++).readPage, undefined, { limit: 5 });
    await collect(limited);
    expect(limited.head).toBe(entries[4]!.position);
    const broken = new LogRead(served(entries, 4, () => head++).readPage, undefined, {});
    for await (const entry of broken) if (entry.position === entries[1]!.position) break;
    expect(broken.head).toBe(entries[1]!.position);
    // ... backwards: the first page's head all the same
    head = 100;
    const latest = new LogRead(served(entries, 4, () => head++).readPage, undefined, { backwards: true, limit: 1 });
    await collect(latest);
    expect(latest.head).toBe(100);
    // an empty log has head 0
    const empty = new LogRead(served([]).readPage, query, {});
    expect(await collect(empty)).toEqual([]);
    expect(empty.head).toBe(0);
  });

  it("reads anew at each iteration", async () => {
    const entries = log(3);
    const { requests, readPage } = served(entries);
    const read = new LogRead(readPage, undefined, {});
    expect(await collect(read)).toEqual(await collect(read));
    expect(requests).toHaveLength(2);
  });

  it("stops backwards at position 1 even when a page says more follow (from 0 would mean the last)", async () => {
    const requests: ReadRequest[] = [];
    const readPage = async (request: ReadRequest): Promise<ReadResponse> => {
      requests.push(request);
      return { events: [{ position: 1, event: event("account-1", 1) }], hasMore: true, head: 1 };
    };
    expect(await collect(new LogRead(readPage, undefined, { backwards: true }))).toEqual([1]);
    expect(requests).toHaveLength(1);
  });

  it("an empty page that says more follow is the service's bug, not an endless loop", async () => {
    const readPage = async (): Promise<ReadResponse> => ({ events: [], hasMore: true, head: 4 });
    await expect(collect(new LogRead(readPage, undefined, {}))).rejects.toThrow(InternalError);
  });
});

describe("the client's v3 requests and replies on the wire", () => {
  const f = useNatsServer({ jetstream: false });

  /** A stand-in for one endpoint: records each request's body and answers with `reply`. */
  function standIn(subject: string, reply: (msg: Msg) => void): { bodies: unknown[]; sub: Subscription } {
    const bodies: unknown[] = [];
    const sub = f.nc.subscribe(subject, {
      callback: (_err, msg) => {
        bodies.push(msg.json());
        reply(msg);
      },
    });
    return { bodies, sub };
  }

  /** An error reply as the service sends it: the micro error headers and the JSON body. */
  function respondError(msg: Msg, err: EventStoreError): void {
    const h = headers();
    h.set(ServiceErrorCodeHeader, String(err.code));
    h.set(ServiceErrorHeader, err.message);
    msg.respond(JSON.stringify(err.toBody()), { headers: h });
  }

  const condition: Condition = { failIfEventsMatch: { items: [{ tags: ["username:alice"] }] }, after: 41 };

  it("append and transact send the condition when given, and no condition field otherwise", async () => {
    const client = new EventStoreClient(f.nc);
    const e = event("user-1", 1, { tags: ["username:alice"] });
    const append = standIn("eventstore.append", (msg) =>
      msg.respond(JSON.stringify({ actorId: "user-1", fromVersion: 1, toVersion: 1, sequences: [42], duplicate: false })),
    );
    const transact = standIn("eventstore.transact", (msg) => msg.respond(JSON.stringify({ appends: [], duplicate: false })));
    try {
      await client.append("user-1", [e], { condition });
      await client.append("user-1", [e]);
      await client.transact([{ actorId: "user-1", events: [e] }], { condition });
      await client.transact([{ actorId: "user-1", events: [e] }]);
    } finally {
      append.sub.unsubscribe();
      transact.sub.unsubscribe();
    }
    expect(append.bodies).toEqual([
      { actorId: "user-1", events: [e], condition },
      { actorId: "user-1", events: [e] },
    ]);
    expect(transact.bodies).toEqual([
      { appends: [{ actorId: "user-1", events: [e] }], condition },
      { appends: [{ actorId: "user-1", events: [e] }] },
    ]);
  });

  it("a 409 with condition is a ConditionFailedError with its position; a 409 without stays a VersionConflictError", async () => {
    const client = new EventStoreClient(f.nc);
    const failed = new ConditionFailedError(57);
    const conflict = new VersionConflictError("user-1", 1, 3);
    let next: ConditionFailedError | VersionConflictError = failed;
    const append = standIn("eventstore.append", (msg) => respondError(msg, next));
    try {
      const refused = await client.append("user-1", [event("user-1", 1)], { condition }).catch((err: unknown) => err);
      expect(refused).toBeInstanceOf(ConditionFailedError);
      expect(refused).toMatchObject({ code: 409, position: 57, message: failed.message });
      next = conflict;
      const behind = await client.append("user-1", [event("user-1", 1)], { condition }).catch((err: unknown) => err);
      expect(behind).toBeInstanceOf(VersionConflictError);
      expect(behind).toMatchObject({ code: 409, actorId: "user-1", attemptedVersion: 1, currentVersion: 3 });
    } finally {
      append.sub.unsubscribe();
    }
  });

  it("read sends each page's request to eventstore.read and yields the replies' events", async () => {
    const client = new EventStoreClient(f.nc);
    const entries = log(7);
    const { readPage } = served(entries, 3);
    const read = standIn(
      "eventstore.read",
      (msg) => void readPage(msg.json<ReadRequest>()).then((page) => msg.respond(JSON.stringify(page))),
    );
    const options: ReadOptions = { from: 3, pageSize: 2 };
    try {
      expect(await collect(client.read(query, options))).toEqual(positionsOf(entries).slice(1));
    } finally {
      read.sub.unsubscribe();
    }
    expect(read.bodies).toEqual([
      { query, from: 3, limit: 2 },
      { query, from: 9, limit: 2 },
      { query, from: 15, limit: 2 },
    ]);
  });
});
