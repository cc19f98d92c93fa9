import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { jetstreamManager } from "@nats-io/jetstream";
import type { ServiceInfo } from "@nats-io/services";
import { connect, Empty, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EventStoreClient } from "../../src/client/client.js";
import type { Event } from "../../src/contract/types.js";
import { event as anEvent } from "../harness/events.js";
import { freePort, type NatsServer, startNatsServer } from "../harness/nats-server.js";
import { type ServiceProcess, startServiceProcess } from "../harness/service-process.js";
import { type CliResult, finished, lines, runCli, runCliOnTerminal, spawnCli } from "./run-cli.js";

let server: NatsServer;
let service: ServiceProcess;
let nc: NatsConnection;
let client: EventStoreClient;
let env: Record<string, string>;

beforeAll(async () => {
  // A small max_payload, so that a few dozen events need several pages (and still room for the
  // service's $SRV.INFO, which carries every endpoint's schemas: about 30 kB with contract v3's).
  server = await startNatsServer({ config: "max_payload: 40960" });
  service = await startServiceProcess(server.url);
  nc = await connect({ servers: server.url });
  client = new EventStoreClient(nc);
  env = { NATS_URL: server.url };
});

afterAll(async () => {
  await nc?.close();
  await service?.stop();
  await server?.stop();
});

const event = (actorId: string, version: number, data: Record<string, unknown> = { n: version }) =>
  anEvent(actorId, version, { eventType: "Deposited", data });
const cli = (...args: string[]) => runCli(args, { env });
const consumers = async () => (await (await jetstreamManager(nc)).streams.info("EVENTS")).state.consumer_count;
const json = (r: CliResult) => JSON.parse(r.stdout) as Record<string, unknown>;

describe("requests", () => {
  it("save prints the reply; the same event again is a duplicate", async () => {
    const e = event(`account-${randomUUID()}`, 1);
    const first = await cli("save", JSON.stringify(e));
    expect(first.code, first.stderr).toBe(0);
    expect(json(first)).toMatchObject({ actorId: e.actorId, version: 1, duplicate: false });
    const again = await runCli(["save", "-"], { env, stdin: JSON.stringify(e) });
    expect(again.code, again.stderr).toBe(0);
    expect(json(again)).toMatchObject({ version: 1, duplicate: true, sequence: json(first).sequence });
  });

  it("events prints every event across pages as NDJSON, from a version on", async () => {
    const actorId = `account-${randomUUID()}`;
    // 120 events of ~430 bytes cannot fit in one 40 KiB reply: the CLI must follow hasMore.
    for (let v = 1; v <= 120; v++) await client.save(event(actorId, v, { pad: "x".repeat(300) }));
    const all = await cli("events", actorId);
    expect(all.code, all.stderr).toBe(0);
    expect(lines(all.stdout).map((l) => (JSON.parse(l) as Event).version)).toEqual(Array.from({ length: 120 }, (_, i) => i + 1));
    const after = await cli("events", actorId, "--from", "117");
    expect(lines(after.stdout).map((l) => (JSON.parse(l) as Event).version)).toEqual([118, 119, 120]);
  });

  it("read prints every event of every page as {position, event}, by --type and --tag, from a position, backwards, limited", async () => {
    const id = randomUUID();
    const tag = `ledger:${id}`;
    const positions: number[] = [];
    const types: string[] = [];
    // 60 events of ~750 bytes cannot fit in one 40 KiB reply: the CLI must follow hasMore.
    for (let v = 1; v <= 60; v++) {
      const eventType = v % 3 === 0 ? "Withdrawn" : "Deposited";
      const stored = await client.append(`account-${id}`, [
        anEvent(`account-${id}`, v, { eventType, tags: [tag], data: { pad: "x".repeat(600) } }),
      ]);
      positions.push(...stored.sequences);
      types.push(eventType);
    }
    const read = async (...flags: string[]) => {
      const r = await cli("read", "--tag", tag, ...flags);
      expect(r.code, r.stderr).toBe(0);
      return lines(r.stdout).map((l) => JSON.parse(l) as { position: number; event: Event });
    };
    const all = await read();
    expect(all.map((e) => e.position)).toEqual(positions);
    expect(all.map((e) => e.event.version)).toEqual(positions.map((_, i) => i + 1));
    expect(all.every((e) => e.event.tags?.[0] === tag)).toBe(true);
    const withdrawn = positions.filter((_, i) => types[i] === "Withdrawn");
    expect((await read("--type", "Withdrawn")).map((e) => e.position)).toEqual(withdrawn);
    expect((await read("--type", "Withdrawn", "--type", "Deposited")).map((e) => e.position)).toEqual(positions);
    expect((await read("--tag", `other:${id}`)).map((e) => e.position)).toEqual([]);
    expect((await read("--from", String(positions[50]))).map((e) => e.position)).toEqual(positions.slice(50));
    expect((await read("--backwards", "--limit", "3")).map((e) => e.position)).toEqual(positions.slice(-3).reverse());
    expect((await read("--backwards", "--from", String(positions[1]))).map((e) => e.position)).toEqual([positions[1], positions[0]]);
  });

  it("read sends the --type and --tag given as one query item, with --from, --backwards and --limit", async () => {
    // What the command asks, seen by a plain subscriber beside the service (which answers).
    const requests: unknown[] = [];
    const sub = nc.subscribe("eventstore.read", { callback: (_err, msg) => void requests.push(msg.json()) });
    await nc.flush();
    try {
      await cli("read", "--type", "A", "--tag", "t:1", "--type", "B", "--tag", "t:2", "--from", "7", "--backwards", "--limit", "2");
      await cli("read");
      await nc.flush();
    } finally {
      sub.unsubscribe();
    }
    // The first request of each command (the second reads the whole log: more pages may follow).
    expect(requests.slice(0, 2)).toEqual([
      { query: { items: [{ types: ["A", "B"], tags: ["t:1", "t:2"] }] }, from: 7, backwards: true, limit: 2 },
      {},
    ]);
  });

  it("version prints the actor's latest version", async () => {
    const actorId = `account-${randomUUID()}`;
    expect(json(await cli("version", actorId))).toEqual({ actorId, version: 0 });
    await client.save(event(actorId, 4));
    expect(json(await cli("version", actorId))).toEqual({ actorId, version: 4 });
  });

  it("snapshot save and get; get without a snapshot fails with 1", async () => {
    const actorId = `account-${randomUUID()}`;
    const none = await cli("snapshot", "get", actorId);
    expect(none.code, none.stderr).toBe(1);
    expect(none.stderr).toContain("no snapshot");
    await client.save(event(actorId, 1));
    const saved = await cli("snapshot", "save", JSON.stringify({ actorId, version: 1, state: { balance: 9 } }));
    expect(saved.code, saved.stderr).toBe(0);
    expect(json(saved)).toEqual({ actorId, version: 1 });
    expect(json(await cli("snapshot", "get", actorId))).toMatchObject({ actorId, version: 1, state: { balance: 9 } });
  });
});

describe("exit codes and messages", () => {
  it("1 for a version conflict, naming both versions", async () => {
    const actorId = `account-${randomUUID()}`;
    await client.save(event(actorId, 3));
    const r = await cli("save", JSON.stringify(event(actorId, 2)));
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("attempted version 2, current version 3");
  });

  it("1 for an invalid event, naming the fields", async () => {
    const r = await cli("save", JSON.stringify({ id: "x", actorId: "account-1", version: 0, data: {} }));
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/\/(eventType|version)/);
  });

  it("1 when no NATS server is reachable", async () => {
    const r = await runCli(["version", "account-1"], { env: { NATS_URL: `nats://127.0.0.1:${await freePort()}` } });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain("nats-eventstore:");
  });

  it("0 with a bad service-only variable in the environment: the CLI reads the connection settings only", async () => {
    const actorId = `account-${randomUUID()}`;
    const r = await runCli(["version", actorId], {
      env: { ...env, EVENTSTORE_CACHE_SIZE: "abc", EVENTSTORE_MAX_DEPTH: "1", LOG_LEVEL: "verbose", NATS_CONNECT_TIMEOUT_MS: "x" },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(json(r)).toEqual({ actorId, version: 0 });
  });

  it("1 for export --out into a missing directory, with a message and no stack trace", async () => {
    const r = await cli("export", "--out", `/nonexistent-${randomUUID()}/events.ndjson`);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/^nats-eventstore: cannot write \/nonexistent-\S+\/events\.ndjson: ENOENT\n$/);
    expect(await consumers()).toBe(0);
  });

  it("2 for a bad connection variable, naming it", async () => {
    const r = await runCli(["version", "account-1"], { env: { ...env, EVENTSTORE_STREAM: "A.B" } });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain("EVENTSTORE_STREAM must match");
  });

  it.each([
    [["bogus"], "unknown command"],
    [[], "no command"],
    [["version"], "expected <actorId>"],
    [["version", "a-1", "--from", "2"], "--from does not apply to version"],
    [["events", "a-1", "--from", "two"], "--from must be an integer"],
    [["events", "a-1", "--tag", "t"], "--tag does not apply to events"],
    [["read", "--limit", "0"], "--limit must be an integer >= 1"],
    [["read", "--type"], "argument missing"],
    [["read", "account-1"], "takes no arguments, got 1"],
    [["save", "{not json"], "not valid JSON"],
    [["snapshot", "drop", "a-1"], "snapshot takes get or save"],
    [["tail", "account", "--actor", "account-1"], "not both"],
    [["version", "a-1", "--nope"], "Unknown option"],
  ])("2 for the usage error %j", async (args, message) => {
    const r = await cli(...args);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(message);
    expect(r.stderr).toContain("--help");
  });

  it("0 and the usage for --help", async () => {
    const r = await cli("--help");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("Usage: nats-eventstore");
  });
});

describe("erase", () => {
  it("needs --yes without a terminal, then erases and prints the reply", async () => {
    const actorId = `person-${randomUUID()}`;
    await client.save(event(actorId, 1));
    const refused = await cli("erase", actorId);
    expect(refused.code, refused.stderr).toBe(2);
    expect(refused.stderr).toContain("--yes");
    expect(await client.version(actorId)).toBe(1);
    const r = await cli("erase", actorId, "--reason", "customer request", "--yes");
    expect(r.code, r.stderr).toBe(0);
    expect(json(r)).toMatchObject({ actorId, version: 1, erasedEvents: 1, erasedSnapshots: 0 });
    const version = await cli("version", actorId);
    expect(json(version)).toEqual({ actorId, version: 1, erased: true });
  });
});

describe("ls", () => {
  it("lists the running replica with its figures", async () => {
    const info = (await nc.request("$SRV.INFO.eventstore", Empty)).json<ServiceInfo>();
    const r = await cli("ls");
    expect(r.code, r.stderr).toBe(0);
    const rows = JSON.parse(r.stdout) as Record<string, unknown>[];
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ id: info.id, version: info.version, errors: expect.any(Number) });
    expect(rows[0]!.requests).toBeGreaterThan(0);
    expect(rows[0]!.average_latency_ms).toBeGreaterThan(0);
  });
});

describe("tail", () => {
  /** The tail's output so far, read as it comes. */
  function watch(child: ReturnType<typeof spawnCli>) {
    const seen = { stdout: "", stderr: "" };
    child.stdout!.on("data", (d: Buffer) => (seen.stdout += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (seen.stderr += d.toString()));
    return seen;
  }

  async function until(condition: () => boolean, child: ReturnType<typeof spawnCli>): Promise<void> {
    while (!condition()) {
      if (child.exitCode !== null) throw new Error(`tail exited with ${child.exitCode}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  it("follows new events of an actor type until SIGINT, then exits 0 and leaves no consumer", async () => {
    const type = `tail${randomUUID().slice(0, 8)}`;
    await client.save(event(`${type}-1`, 1));
    const child = spawnCli(["tail", type], env);
    const result = finished(child);
    const seen = watch(child);
    await until(() => seen.stderr.includes("following"), child);
    const fresh = event(`${type}-1`, 2);
    await client.save(event(`other${type}-1`, 1));
    const { sequence } = await client.save(fresh);
    await until(() => seen.stdout.includes("\n"), child);
    child.kill("SIGINT");
    const r = await result;
    expect(r.code, r.stderr).toBe(0);
    expect(lines(r.stdout).map((l) => JSON.parse(l) as unknown)).toEqual([{ sequence, event: expect.objectContaining({ id: fresh.id }) }]);
    expect(await consumers()).toBe(0);
  });

  it("--all starts with what is stored; its JSON lines carry the sequence that --from-seq resumes after", async () => {
    const actorId = `account-${randomUUID()}`;
    const stored = [event(actorId, 1), event(actorId, 2)];
    for (const e of stored) await client.save(e);
    const tailed = async (count: number, ...args: string[]) => {
      const child = spawnCli(["tail", "--actor", actorId, ...args], env);
      const result = finished(child);
      const seen = watch(child);
      await until(() => lines(seen.stdout).length === count, child);
      child.kill("SIGTERM");
      const r = await result;
      expect(r.code, r.stderr).toBe(0);
      return lines(r.stdout).map((l) => JSON.parse(l) as { sequence: number; event: Event });
    };
    const first = await tailed(2, "--all");
    expect(first.map((l) => l.event.id)).toEqual(stored.map((e) => e.id));
    const later = event(actorId, 3);
    const { sequence } = await client.save(later);
    // Resuming after the last line printed gives the event saved since, and nothing printed before.
    const resumed = await tailed(1, "--from-seq", String(first.at(-1)!.sequence + 1));
    expect(resumed).toEqual([{ sequence, event: expect.objectContaining({ id: later.id }) }]);
  });
});

describe.skipIf(!existsSync("/usr/bin/script"))("on a terminal", () => {
  it("prints events as readable lines", async () => {
    const actorId = `account-${randomUUID()}`;
    await client.save({ ...event(actorId, 1), eventType: "Opened", data: { owner: "ada" } });
    const r = await runCliOnTerminal(["events", actorId], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`${actorId}  v1  Opened  \\S+  \\{"owner":"ada"\\}`));
  });
});
