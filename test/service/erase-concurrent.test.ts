import { randomUUID } from "node:crypto";
import { expect, it } from "vitest";
import { event } from "../harness/events.js";
import { useService } from "../harness/fixture.js";
import { request } from "../harness/requests.js";

// Found by an outside attack on the erase that overwrites. docs/operations.md: "A caller's timeout may
// pass before a large erase answers: the erase goes on, and erasing again is safe". An erase sent
// again while the first one still deletes (a caller's retry after its timeout, or two operators)
// deletes the same sequences: nats-server answers a delete of a message already gone with
// JetStream 10057 "no message found" (not 10043, which eraseMessage takes for "gone"), and the
// second erase answers 500 "internal error".

const f = useService({ replicas: 2 });

it("answers every erase of an actor sent while another erase of it is still deleting (no 500)", async () => {
  const actorId = `person-${randomUUID()}`;
  for (let from = 1; from <= 1000; from += 500) {
    const events = Array.from({ length: 500 }, (_, i) => event(actorId, from + i));
    expect((await request(f.nc, "eventstore.append", { actorId, events })).code).toBe(0);
  }
  for (const version of [998, 999, 1000]) {
    expect((await request(f.nc, "eventstore.snapshot.save", { actorId, version, state: { version } })).code).toBe(0);
  }
  const erases = await Promise.all(Array.from({ length: 4 }, () => request(f.nc, "eventstore.erase", { actorId }, 60_000)));
  expect(erases.map((r) => r.code)).toEqual([0, 0, 0, 0]);
  // between them, each message deleted once
  expect(erases.reduce((n, r) => n + (r.body.erasedEvents as number), 0)).toBe(1000);
  expect(erases.reduce((n, r) => n + (r.body.erasedSnapshots as number), 0)).toBe(3);
}, 120_000);
