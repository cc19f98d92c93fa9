import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection, nanos } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EventStoreClient } from "../../src/client/client.js";
import { Subjects } from "../../src/contract/subjects.js";
import type { Event } from "../../src/contract/types.js";
import { eventsStreamConfig, type StreamSettings, snapshotsStreamConfig } from "../../src/server.js";
import { event as anEvent } from "../harness/events.js";
import { type NatsServer, startNatsServer } from "../harness/nats-server.js";
import { type ServiceProcess, startServiceProcess } from "../harness/service-process.js";
import { lines, runCli, runCliOnTerminal } from "./run-cli.js";

const ACTORS = 100;
const VERSIONS = 100;
// JetStream remembers a message id for its stream's duplicate window even after a purge, and the
// service refuses an id it remembers whose message is gone: with the default 2 minutes, importing
// right after a purge would fail. The stream is made here, as the service would make it, with a
// short window that the test waits out after the purge.
const DUPLICATE_WINDOW_MS = 500;

let server: NatsServer;
let service: ServiceProcess;
let nc: NatsConnection;
let client: EventStoreClient;
let env: Record<string, string>;
let dir: string;

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  const settings: StreamSettings = { subjects: new Subjects("EVENTS"), replicas: 1, snapshotsKeep: 3, atomicBatch: true };
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ ...eventsStreamConfig(settings), duplicate_window: nanos(DUPLICATE_WINDOW_MS) });
  await jsm.streams.add(snapshotsStreamConfig(settings));
  service = await startServiceProcess(server.url);
  client = new EventStoreClient(nc);
  env = { NATS_URL: server.url };
  dir = mkdtempSync(join(tmpdir(), "es-cli-"));
});

afterAll(async () => {
  await nc?.close();
  await service?.stop();
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** 100 actors with 100 events each, with every field an event can carry. */
function history(): Event[] {
  const events: Event[] = [];
  for (let version = 1; version <= VERSIONS; version++) {
    for (let a = 0; a < ACTORS; a++) {
      events.push({
        id: `acct${a}-v${version}`,
        eventType: version === 1 ? "Opened" : "Deposited",
        actorId: `account-${a}`,
        version,
        data: { amount: version * 10 + a, memo: `deposit ${version}` },
        ...(version % 10 === 0 ? { metadata: { correlationId: `batch-${version}` } } : {}),
        timestamp: new Date(Date.UTC(2024, 0, 1) + version * 60_000 + a).toISOString(),
      });
    }
  }
  return events;
}

const byActorAndVersion = (a: Event, b: Event) => a.actorId.localeCompare(b.actorId) || a.version - b.version;
const parse = (file: string) =>
  lines(readFileSync(file, "utf8"))
    .map((l) => JSON.parse(l) as Event)
    .sort(byActorAndVersion);
const ndjson = (events: object[]) => events.map((e) => JSON.stringify(e)).join("\n") + "\n";

describe("export, purge, import", () => {
  it("round-trips 10,000 events with the same ids, data, timestamps and versions", { timeout: 120_000 }, async () => {
    const input = history();
    const inFile = join(dir, "in.ndjson");
    writeFileSync(inFile, ndjson(input));

    const loaded = await runCli(["import", inFile], { env });
    expect(loaded.stderr).not.toContain("ETA");
    expect(loaded.code, loaded.stderr).toBe(0);
    expect(JSON.parse(loaded.stdout)).toEqual({ imported: 10_000, duplicates: 0 });

    const first = join(dir, "first.ndjson");
    const exported = await runCli(["export", "--out", first], { env });
    expect(exported.code, exported.stderr).toBe(0);
    expect(exported.stderr).toContain("exported 10000 events");
    expect(parse(first)).toEqual([...input].sort(byActorAndVersion));

    const jsm = await jetstreamManager(nc);
    await jsm.streams.purge("EVENTS");
    expect((await jsm.streams.info("EVENTS")).state.messages).toBe(0);
    expect(await client.version("account-7")).toBe(0);
    await new Promise((r) => setTimeout(r, DUPLICATE_WINDOW_MS * 3));

    const restored = await runCli(["import", first], { env });
    expect(restored.code, restored.stderr).toBe(0);
    expect(JSON.parse(restored.stdout)).toEqual({ imported: 10_000, duplicates: 0 });
    const second = join(dir, "second.ndjson");
    expect((await runCli(["export", "--out", second], { env })).code).toBe(0);
    expect(parse(second)).toEqual(parse(first));
    for (const a of [0, 42, 99]) expect(await client.version(`account-${a}`)).toBe(VERSIONS);

    // Idempotent: a part of the same input again stores nothing new. (Part: the service answers a
    // duplicate of an old version by reading the actor's history up to it, which is slow for 10,000.)
    const again = lines(readFileSync(first, "utf8")).slice(0, 1000);
    const repeated = await runCli(["import", "-"], { env, stdin: again.join("\n") });
    expect(repeated.code, repeated.stderr).toBe(0);
    expect(JSON.parse(repeated.stdout)).toEqual({ imported: 0, duplicates: 1000 });
    expect((await jsm.streams.info("EVENTS")).state.messages).toBe(10_000);
  });
});

describe("bad input", () => {
  const fresh = (n: number) => Array.from({ length: n }, () => `account-${randomUUID()}`);
  const event = (actorId: string, version: number) => anEvent(actorId, version, { eventType: "Deposited", data: {} });

  it("a broken NDJSON line is reported with its line number, and nothing of the file is imported", async () => {
    const actors = fresh(3);
    const file = join(dir, "broken.ndjson");
    writeFileSync(
      file,
      [
        JSON.stringify(event(actors[0]!, 1)),
        "",
        JSON.stringify(event(actors[1]!, 1)),
        '{"id": "x", "eventType": ',
        JSON.stringify(event(actors[2]!, 1)),
      ].join("\n"),
    );
    const r = await runCli(["import", file], { env });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain(`${file}:4: not valid JSON`);
    for (const actorId of actors) expect(await client.version(actorId)).toBe(0);
  });

  it("a line that is JSON but not an event is reported with its line number and the field", async () => {
    const [actorId] = fresh(1);
    const r = await runCli(["import", "-"], {
      env,
      stdin: ndjson([event(actorId!, 1), { ...event(actorId!, 2), version: "two" }]),
    });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain("stdin:2: not a valid event: /version");
    expect(await client.version(actorId!)).toBe(0);
  });

  it("a conflict stops the import at its line; what came before it stays, and the message names the versions", async () => {
    const [taken, other] = fresh(2);
    await client.save(event(taken!, 1));
    // One at a time, so that the events before the conflict are certainly sent before it.
    const r = await runCli(["import", "-", "--concurrency", "1"], {
      env,
      stdin: ndjson([event(other!, 1), event(other!, 2), event(taken!, 1), event(other!, 3)]),
    });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain("stdin:3:");
    expect(r.stderr).toContain("attempted version 1, current version 1");
    expect(r.stderr).toContain("2 events imported before it stopped");
    expect(await client.version(other!)).toBe(2);
  });
});

describe("progress", () => {
  it("shows a bar with rate and ETA on a terminal, and none when stderr is not one", async () => {
    const type = `bar${randomUUID().slice(0, 8)}`;
    const events = Array.from({ length: 50 }, (_, i) => event(`${type}-${i}`, 1));
    for (const e of events) await client.save(e);
    const out = join(dir, "bar.ndjson");
    const onTerminal = await runCliOnTerminal(["export", type, "--out", out], env);
    expect(onTerminal.code, onTerminal.stderr).toBe(0);
    expect(onTerminal.stdout).toMatch(/export \[#+\] 100% 50\/50 \d+\/s ETA \d+s/);
    const piped = await runCli(["export", type, "--out", out], { env });
    expect(piped.stderr).toBe(`exported 50 events to ${out}\n`);
  });

  const event = (actorId: string, version: number) => anEvent(actorId, version, { eventType: "Deposited", data: {} });
});
