import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import type { Event } from "../../src/schemas/types.js";
import { Subjects } from "../../src/subjects.js";
import { type NatsServer, startNatsServer } from "../harness/nats-server.js";
import { type Reply, request } from "../harness/requests.js";
import { type ServiceProcess, startServiceProcess } from "../harness/service-process.js";

const subjects = new Subjects("EVENTS");
const EVENTS = 1000;
// The batch has come this far when the test stops the process or the server.
const HALFWAY = 100;
const padding = "x".repeat(100);
const largeBatch = (actorId: string): Event[] =>
  Array.from({ length: EVENTS }, (_, i) => ({
    id: randomUUID(),
    eventType: "LineAdded",
    actorId,
    version: i + 1,
    data: { line: i, padding },
  }));

const dir = mkdtempSync(join(tmpdir(), "es-append-crash-"));
let server: NatsServer;
let nc: NatsConnection;
const services: ServiceProcess[] = [];
let watch: Subscription | undefined;

beforeAll(async () => {
  // An abandoned batch is dropped after the batch timeout: a short one lets the test see that happen.
  server = await startNatsServer({
    jetstream: false,
    config: `jetstream { store_dir: ${JSON.stringify(dir)}, limits { batch { timeout: 1s } } }`,
  });
  nc = await connect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
});

afterEach(() => {
  watch?.unsubscribe();
  watch = undefined;
});

afterAll(async () => {
  await nc?.close();
  for (const s of services) await s.kill();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function service(): Promise<ServiceProcess> {
  const s = await startServiceProcess(server.url);
  services.push(s);
  return s;
}

/** Resolves once `after` messages of a batch for the actor have passed its subject; counts what passes. */
function watchBatch(actorId: string, after: number) {
  const seen = { messages: 0, committed: false };
  let reached!: () => void;
  const halfway = new Promise<void>((resolve) => (reached = resolve));
  watch = nc.subscribe(subjects.events(actorId), {
    callback: (_err, msg) => {
      if (!msg.headers?.get("Nats-Batch-Id")) return;
      seen.messages++;
      if (msg.headers.get("Nats-Batch-Commit")) seen.committed = true;
      if (seen.messages >= after) reached();
    },
  });
  return { seen, halfway };
}

async function storedCount(actorId: string): Promise<number> {
  const jsm = await jetstreamManager(nc);
  const subject = subjects.events(actorId);
  const info = await jsm.streams.info(subjects.stream, { subjects_filter: subject });
  return info.state.subjects?.[subject] ?? 0;
}

/** Asks until the service answers again (after a restart of the server). */
async function untilServing(actorId: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const r = await request(nc, "eventstore.version", { actorId }, 2000).catch(() => undefined);
    if (r?.code === 0) return;
    if (Date.now() > deadline) throw new Error(`the service did not answer again: ${JSON.stringify(r)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

const appendRequest = (actorId: string, events: Event[], timeout = 10_000) =>
  request(nc, "eventstore.append", { actorId, events }, timeout);

it("stores no event of a batch whose service process is killed half-way, and the retry stores all", async () => {
  // The stop races the service's own progress. An attempt whose commit got out first says nothing
  // about a half-way batch (it must then have stored all of it) and is made again.
  for (let attempt = 1; ; attempt++) {
    const victim = await service();
    const actorId = `order-${randomUUID()}`;
    const events = largeBatch(actorId);
    const { seen, halfway } = watchBatch(actorId, HALFWAY);
    const pending = appendRequest(actorId, events, 3000).catch((e: unknown) => e);
    await halfway;
    // Frozen before its commit, the process can send nothing more; then it is killed.
    victim.process.kill("SIGSTOP");
    await new Promise((resolve) => setTimeout(resolve, 300));
    const sentBeforeKill = seen.messages;
    await victim.kill();
    watch?.unsubscribe();
    if (seen.committed) {
      expect(await storedCount(actorId)).toBe(EVENTS);
      expect(attempt, "every attempt committed before the process could be stopped").toBeLessThan(3);
      continue;
    }
    expect(sentBeforeKill).toBeGreaterThanOrEqual(HALFWAY);
    expect(sentBeforeKill).toBeLessThan(EVENTS);

    expect(await storedCount(actorId)).toBe(0);
    // past the server's batch timeout, the abandoned batch is gone for good
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(await storedCount(actorId)).toBe(0);
    expect(await pending).toBeInstanceOf(Error);

    await service();
    const retry = await appendRequest(actorId, events);
    expect(retry).toMatchObject({ code: 0, body: { fromVersion: 1, toVersion: EVENTS, duplicate: false } });
    expect(await storedCount(actorId)).toBe(EVENTS);
    return;
  }
});

it("stores all or none of a batch when the nats-server is killed during it, and the retry agrees", async () => {
  await service();
  const actorId = `order-${randomUUID()}`;
  const events = largeBatch(actorId);
  const { halfway } = watchBatch(actorId, HALFWAY);
  const pending = appendRequest(actorId, events, 3000).catch((e: unknown) => e);
  await halfway;
  await server.halt("SIGKILL");
  server = await server.restart();
  const reply = await pending;
  await untilServing(actorId);

  const stored = await storedCount(actorId);
  expect([0, EVENTS]).toContain(stored);
  if ((reply as Reply).code === 0) expect(stored).toBe(EVENTS);

  const retry = await appendRequest(actorId, events);
  expect(retry).toMatchObject({ code: 0, body: { fromVersion: 1, toVersion: EVENTS, duplicate: stored === EVENTS } });
  expect(await storedCount(actorId)).toBe(EVENTS);
  const page = await request(nc, "eventstore.events", { actorId, fromVersion: EVENTS - 3 });
  expect((page.body.events as Event[]).map((e) => e.id)).toEqual(events.slice(-3).map((e) => e.id));
});
