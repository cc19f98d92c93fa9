import { randomUUID } from "node:crypto";
import { expect, it } from "vitest";
import type { Event } from "../../src/contract/types.js";
import { event } from "../harness/events.js";
import { useService } from "../harness/fixture.js";
import { readAll, request } from "../harness/requests.js";

// transact through two service processes: money moved between accounts by racing transfers,
// mixed with deposits saved and appended on the same accounts, is never created or lost.

const f = useService({ replicas: 2 });

type Movement = { amount: number; transfer?: string };
const ev = (actorId: string, version: number, data: Movement) =>
  event(actorId, version, { eventType: data.transfer ? "Transferred" : "Deposited", data });
const version = async (actorId: string) => (await request(f.nc, "eventstore.version", { actorId })).body.version as number;

it("moves money between accounts with racing transfers, saves and appends: all or nothing, each applied once", async () => {
  const accounts = Array.from({ length: 4 }, () => `acct-${randomUUID()}`);
  for (const a of accounts) expect((await request(f.nc, "eventstore.save", ev(a, 1, { amount: 1000 }))).code).toBe(0);
  let deposited = 4000;
  const transfers = new Map<string, number>();
  const conflicts: number[] = [];

  const transferrer = async (w: number) => {
    for (let done = 0; done < 8; ) {
      const from = accounts[(w + done) % accounts.length]!;
      const to = accounts[(w + done + 1) % accounts.length]!;
      const transfer = randomUUID();
      const [vf, vt] = await Promise.all([version(from), version(to)]);
      const body = {
        appends: [
          { actorId: from, events: [ev(from, vf + 1, { amount: -10, transfer })] },
          { actorId: to, events: [ev(to, vt + 1, { amount: 10, transfer })] },
        ],
      };
      const r = await request(f.nc, "eventstore.transact", body);
      if (r.code === 0) {
        transfers.set(transfer, 2);
        // The same transaction again, as a client retrying a lost reply would: the original sequences.
        const again = await request(f.nc, "eventstore.transact", body);
        expect(again.body).toEqual({ ...r.body, duplicate: true });
        done++;
      } else {
        expect(r.code).toBe(409);
        const error = r.body.error as { conflicts: { actorId: string; currentVersion: number }[] };
        expect(error.conflicts.length).toBeGreaterThan(0);
        for (const c of error.conflicts) expect([from, to]).toContain(c.actorId);
        conflicts.push(error.conflicts.length);
      }
    }
  };
  const depositor = async (w: number) => {
    for (let i = 0; i < 8; i++) {
      const a = accounts[(w + i) % accounts.length]!;
      const v = await version(a);
      const r =
        i % 2 === 0
          ? await request(f.nc, "eventstore.save", ev(a, v + 1, { amount: 5 }))
          : await request(f.nc, "eventstore.append", { actorId: a, events: [ev(a, v + 1, { amount: 5 }), ev(a, v + 2, { amount: 5 })] });
      if (r.code === 0) deposited += i % 2 === 0 ? 5 : 10;
      else expect(r.code).toBe(409);
    }
  };
  await Promise.all([...[0, 1, 2, 3].map(transferrer), ...[0, 1].map(depositor)]);

  let total = 0;
  const legs = new Map<string, number>();
  for (const a of accounts) {
    const events = await readAll<Event & { data: Movement }>(f.nc, a);
    expect(events.map((e) => e.version)).toEqual(events.map((_, i) => i + 1));
    for (const e of events) {
      total += e.data.amount;
      if (e.data.transfer) legs.set(e.data.transfer, (legs.get(e.data.transfer) ?? 0) + 1);
    }
  }
  expect(total).toBe(deposited);
  expect(legs).toEqual(transfers);
  expect(conflicts.length).toBeGreaterThan(0);
}, 60_000);

it("answers 400 for a transaction the contract forbids, and stores none of it", async () => {
  const a = `acct-${randomUUID()}`;
  const b = `acct-${randomUUID()}`;
  const twice = {
    appends: [
      { actorId: a, events: [ev(a, 1, { amount: 1 })] },
      { actorId: a, events: [ev(a, 2, { amount: 1 })] },
    ],
  };
  const foreign = { appends: [{ actorId: a, events: [ev(b, 1, { amount: 1 })] }] };
  const same = ev(b, 1, { amount: 1 });
  const reused = {
    appends: [
      { actorId: a, events: [{ ...ev(a, 1, { amount: 1 }), id: same.id }] },
      { actorId: b, events: [same] },
    ],
  };
  for (const body of [twice, foreign, reused, { appends: [] }]) {
    const r = await request(f.nc, "eventstore.transact", body);
    expect(r.code).toBe(400);
  }
  expect(await version(a)).toBe(0);
  expect(await version(b)).toBe(0);
});
