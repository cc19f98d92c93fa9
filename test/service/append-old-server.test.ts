import { randomUUID } from "node:crypto";
import { expect, it } from "vitest";
import { useService } from "../harness/fixture.js";
import { oldNatsServerBin } from "../harness/nats-server.js";
import { request } from "../harness/requests.js";
import { startServiceProcess } from "../harness/service-process.js";

const f = useService({ server: { bin: oldNatsServerBin() } });

it("runs on a nats-server older than 2.12: warns once, saves, and answers append with 501", async () => {
  expect(f.nc.info?.version).toMatch(/^2\.(\d|1[01])\./);
  const actorId = `order-${randomUUID()}`;
  const events = [1, 2].map((version) => ({ id: randomUUID(), eventType: "T", actorId, version, data: {} }));
  for (let i = 0; i < 2; i++) {
    const r = await request(f.nc, "eventstore.append", { actorId, events });
    expect(r.code).toBe(501);
    expect(r.body).toMatchObject({ error: { code: 501, requiredServerVersion: "2.12.0" } });
    expect((r.body.error as { message: string }).message).toContain("2.12.0");
    expect(r.errorHeader).toContain("2.12.0");
  }
  expect((await request(f.nc, "eventstore.version", { actorId })).body.version).toBe(0);
  const saved = await request(f.nc, "eventstore.save", events[0]);
  expect(saved).toMatchObject({ code: 0, body: { actorId, version: 1, duplicate: false } });
  expect((await request(f.nc, "eventstore.version", { actorId })).body.version).toBe(1);
  const warnings = f.services[0]!.logs.filter((l) => String(l.msg).includes("no atomic batch publish"));
  expect(warnings).toHaveLength(1);
  expect(warnings[0]).toMatchObject({ required: "2.12.0", serverVersion: f.nc.info?.version });
});

it("reads histories on a server without batch direct gets, one message at a time", async () => {
  const actorId = `order-${randomUUID()}`;
  for (let version = 1; version <= 5; version++) {
    expect((await request(f.nc, "eventstore.save", { id: randomUUID(), eventType: "T", actorId, version, data: {} })).code).toBe(0);
  }
  // a new process in place of the first starts with no index and must scan
  await f.services[0]!.stop();
  f.services[0] = await startServiceProcess(f.server.url);
  const page = await request(f.nc, "eventstore.events", { actorId, fromVersion: 1, limit: 3 });
  expect(page.body).toMatchObject({ hasMore: true });
  expect((page.body.events as { version: number }[]).map((e) => e.version)).toEqual([2, 3, 4]);
});
