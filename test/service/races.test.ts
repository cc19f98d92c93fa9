import { randomUUID } from "node:crypto";
import { jetstreamManager } from "@nats-io/jetstream";
import { Svcm } from "@nats-io/services";
import { expect, it } from "vitest";
import { useService } from "../harness/fixture.js";
import { readAll, request } from "../harness/requests.js";

const f = useService({ replicas: 2 });

it("keeps versions strictly increasing when writers race through two service processes", async () => {
  const actorId = `account-${randomUUID()}`;
  const writers = 8;
  const savesPerWriter = 15;
  const acknowledged: { id: string; version: number; sequence: number }[] = [];
  const conflicts: { attempted: number; current: number }[] = [];

  const writer = async () => {
    let version = 0;
    for (let done = 0; done < savesPerWriter; ) {
      const id = randomUUID();
      const r = await request(f.nc, "eventstore.save", { id, eventType: "Deposited", actorId, version: version + 1, data: {} });
      if (r.code === 0) {
        acknowledged.push({ id, version: r.body.version as number, sequence: r.body.sequence as number });
        version++;
        done++;
      } else {
        expect(r.code).toBe(409);
        const e = r.body.error as { attemptedVersion: number; currentVersion: number };
        conflicts.push({ attempted: e.attemptedVersion, current: e.currentVersion });
        version = e.currentVersion;
      }
    }
  };
  await Promise.all(Array.from({ length: writers }, writer));

  const jsm = await jetstreamManager(f.nc);
  const stored = await readAll<{ id: string; version: number }>(f.nc, actorId);
  expect(stored.map((e) => e.version)).toEqual(Array.from({ length: writers * savesPerWriter }, (_, i) => i + 1));
  expect(stored.map((e) => e.id).sort()).toEqual(acknowledged.map((a) => a.id).sort());
  expect((await jsm.streams.info("EVENTS")).state.messages).toBe(writers * savesPerWriter);
  expect(conflicts.length).toBeGreaterThan(0);
  for (const c of conflicts) expect(c.current).toBeGreaterThanOrEqual(c.attempted);

  const stats = await new Svcm(f.nc).client().stats("eventstore");
  const perReplica: number[] = [];
  for await (const s of stats) {
    perReplica.push(s.endpoints!.find((e) => e.name === "save")!.num_requests);
  }
  expect(perReplica).toHaveLength(2);
  for (const n of perReplica) expect(n).toBeGreaterThan(0);
});

it("lets exactly one of two processes store each contested version", async () => {
  const actorId = `account-${randomUUID()}`;
  for (let version = 1; version <= 20; version++) {
    const attempts = await Promise.all(
      Array.from({ length: 4 }, () => request(f.nc, "eventstore.save", { id: randomUUID(), eventType: "T", actorId, version, data: {} })),
    );
    expect(attempts.filter((a) => a.code === 0)).toHaveLength(1);
    for (const lost of attempts.filter((a) => a.code !== 0)) {
      expect(lost.body).toMatchObject({ error: { code: 409, attemptedVersion: version, currentVersion: version } });
    }
  }
  expect((await request(f.nc, "eventstore.version", { actorId })).body.version).toBe(20);
});
