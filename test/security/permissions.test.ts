import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AckPolicy, DiscardPolicy, jetstream, jetstreamManager, RetentionPolicy, StorageType } from "@nats-io/jetstream";
import { connect, Empty, errors, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EventStoreClient } from "../../src/client/client.js";
import { PermissionError } from "../../src/client/errors.js";
import { runCli } from "../cli/run-cli.js";
import { METRICS_ENV, metricsPort, Scrape } from "../harness/metrics.js";
import { type NatsCluster, startNatsCluster } from "../harness/nats-cluster.js";
import { type NatsServer, startNatsServer } from "../harness/nats-server.js";
import { request } from "../harness/requests.js";
import { ROLE_INBOX_PREFIX, rolePasswords } from "../harness/role-passwords.js";
import { ROOT, runServiceToExit, type ServiceProcess, startServiceProcess } from "../harness/service-process.js";

// The service runs with its two identities of deploy/permissions.conf, holding exactly
// EVENTSTORE_SERVICE (takes requests) and EVENTSTORE_JETSTREAM (uses JetStream), and callers as
// the writer and reader roles of the same file. The server enforces them.

const PERMISSIONS_FILE = join(ROOT, "deploy", "permissions.conf");
const SERVICE_ENV = { NATS_INBOX_PREFIX: "_INBOX_eventstore", EVENTSTORE_JS_TIMEOUT_MS: "2000", ...METRICS_ENV };

const passwords = rolePasswords();

/**
 * A server that includes permissionsText (the shipped file, or a variant of it) as it stands,
 * plus one unrestricted admin user for the test's own checks.
 */
async function serverWith(permissionsText: string): Promise<NatsServer & { log: () => string }> {
  // nats-server resolves an include against the directory of the including file.
  const serverDir = mkdtempSync(join(tmpdir(), "es-nats-"));
  writeFileSync(join(serverDir, "permissions.conf"), withAdmin(permissionsText));
  const server = await startNatsServer({ dir: serverDir, config: "include permissions.conf" });
  let log = "";
  server.process.stderr?.on("data", (d: Buffer) => (log += d.toString()));
  return Object.assign(server, { log: () => log });
}

/** A connection as one of the file's users; a caller role with its own inbox prefix, as the file requires. */
/** permissionsText plus one unrestricted admin user. */
function withAdmin(permissionsText: string): string {
  const text = permissionsText.replace(/^(\s*users: \[\n)/m, `$1    { user: admin, password: "${passwords.admin}" }\n`);
  expect(text).not.toBe(permissionsText);
  return text;
}

/** A 3-node cluster whose nodes include permissionsText plus an admin, and everything its nodes logged. */
async function clusterWith(permissionsText: string): Promise<{ cluster: NatsCluster; log: () => string }> {
  const cluster = await startNatsCluster(3, { include: withAdmin(permissionsText), user: { user: "admin", pass: passwords.admin } });
  let log = "";
  for (const node of cluster.nodes) node.server?.process.stderr?.on("data", (d: Buffer) => (log += d.toString()));
  return { cluster, log: () => log };
}

const as = (server: { url: string }, user: keyof typeof passwords) =>
  connect({ servers: server.url, user, pass: passwords[user], inboxPrefix: ROLE_INBOX_PREFIX[user] });

const IDENTITIES = {
  NATS_USER: "eventstore",
  NATS_PASSWORD: passwords.eventstore,
  NATS_JETSTREAM_USER: "eventstore-jetstream",
  NATS_JETSTREAM_PASSWORD: passwords["eventstore-jetstream"],
};

function startService(server: { url: string }, env: Record<string, string> = {}): Promise<ServiceProcess> {
  return startServiceProcess(server.url, { ...SERVICE_ENV, ...IDENTITIES, ...env });
}

/** Both streams gone, or both present with settings the service must update (direct gets off, another snapshot bound). */
async function prepareStreams(admin: NatsConnection, state: "absent" | "stale"): Promise<void> {
  const jsm = await jetstreamManager(admin);
  for (const name of ["EVENTS", "EVENTS_SNAPSHOTS"]) await jsm.streams.delete(name).catch(() => undefined);
  if (state === "absent") return;
  const common = { storage: StorageType.File, retention: RetentionPolicy.Limits, discard: DiscardPolicy.Old, num_replicas: 1 };
  await jsm.streams.add({ ...common, name: "EVENTS", subjects: ["EVENTS.events.>"], allow_direct: false });
  await jsm.streams.add({
    ...common,
    name: "EVENTS_SNAPSHOTS",
    subjects: ["EVENTS.snapshots.>"],
    allow_direct: true,
    max_msgs_per_subject: 1,
  });
}

/**
 * Every endpoint and $SRV verb once, as a writer would use them (and erase as the eraser, the one
 * role that may, and reads as the reader: each role's inboxes get answers); the first failure, or undefined.
 */
async function exercise(
  nc: NatsConnection,
  eraser: NatsConnection,
  reader: NatsConnection,
  replicated = false,
): Promise<string | undefined> {
  const actorId = `order-${randomUUID()}`;
  const event = (version: number) => ({ id: randomUUID(), eventType: "OrderPlaced", actorId, version, data: { n: version } });
  // Long enough for a read through a consumer.
  const longHistory = Array.from({ length: 250 }, (_, i) => event(i + 6));
  // v3: a tagged write adds a link on <stream>.tags.<hash>; a condition on a tag the write does not
  // carry adds a guard message on <stream>.guard.
  const [tag, unclaimed] = [`customer:${randomUUID()}`, `coupon:${randomUUID()}`];
  const steps: [string, () => Promise<unknown>][] = [
    ["save", () => call(nc, "eventstore.save", event(1))],
    ["save (cached head)", () => call(nc, "eventstore.save", event(2))],
    ["append with a tag (a tag link)", () => call(nc, "eventstore.append", { actorId, events: [{ ...event(3), tags: [tag] }, event(4)] })],
    [
      "append on a condition about a tag it does not carry (a guard message)",
      () =>
        call(nc, "eventstore.append", {
          actorId,
          events: [event(5)],
          condition: { failIfEventsMatch: { items: [{ tags: [unclaimed] }] } },
        }),
    ],
    [
      "read by tag",
      async () => {
        const r = await request(reader, "eventstore.read", { query: { items: [{ tags: [tag] }] } }, 5000);
        const versions = (r.body.events as { event: { version: number } }[] | undefined)?.map((e) => e.event.version);
        if (JSON.stringify(versions) !== "[3]") throw new Error(`read answered ${r.code}: ${JSON.stringify(r.body).slice(0, 200)}`);
      },
    ],
    ["events", () => call(nc, "eventstore.events", { actorId })],
    ["append a long history", () => call(nc, "eventstore.append", { actorId, events: longHistory })],
    ["events of a long history (through a consumer)", () => call(nc, "eventstore.events", { actorId })],
    ["version", () => call(nc, "eventstore.version", { actorId })],
    ["events as the reader", () => call(reader, "eventstore.events", { actorId })],
    ["snapshot_save", () => call(nc, "eventstore.snapshot.save", { actorId, version: 4, state: { n: 4 } })],
    [
      "snapshot_get",
      () =>
        replicated ? eventually(() => call(nc, "eventstore.snapshot.get", { actorId })) : call(nc, "eventstore.snapshot.get", { actorId }),
    ],
    ["transact", () => call(nc, "eventstore.transact", { appends: [{ actorId, events: [event(256)] }] })],
    ["erase", () => call(eraser, "eventstore.erase", { actorId, reason: "permissions test" })],
    ["save after erase", () => call(nc, "eventstore.save", event(257), 410)],
    ["$SRV.INFO", () => nc.request("$SRV.INFO.eventstore", Empty, { timeout: 3000 })],
    ["$SRV.STATS", () => nc.request("$SRV.STATS.eventstore", Empty, { timeout: 3000 })],
    ["$SRV.PING", () => nc.request("$SRV.PING.eventstore", Empty, { timeout: 3000 })],
  ];
  return firstFailure(steps);
}

/**
 * step, asked again for up to 10 s while it fails. snapshot_get reads the newest snapshot with a
 * direct get, which a follower may answer before it has the snapshot just saved (404 right after
 * a 200 on a 3-node cluster, src/server/jetstream-store/snapshots.ts: `last`, not `current`): a read
 * freshness bug of the store, not a permission. Drop this once snapshot_get reads the leader.
 */
async function eventually(step: () => Promise<void>): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      return await step();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** Runs the named steps in order; the first failure, or undefined. */
async function firstFailure(steps: [string, () => Promise<unknown>][]): Promise<string | undefined> {
  for (const [name, step] of steps) {
    try {
      await step();
    } catch (err) {
      return `${name}: ${(err as Error).message}`;
    }
  }
  return undefined;
}

/** A projection's consumer appears in the service's /metrics with its lag; the failure, or undefined. */
async function projectionLagScraped(admin: NatsConnection, service: ServiceProcess): Promise<string | undefined> {
  const jsm = await jetstreamManager(admin);
  await jsm.consumers.add("EVENTS", { durable_name: "proj-permissions", ack_policy: AckPolicy.Explicit });
  const scrape = await Scrape.of(metricsPort(service));
  if (!scrape.has("eventstore_projection_lag", { projection: "permissions" })) return "/metrics: no lag for the projection permissions";
  return undefined;
}

/** The server refused to let the request out: nats.js reports the -ERR as the cause of the request's error. */
async function expectRefused(pending: Promise<unknown>, subject: string): Promise<void> {
  const err = await pending.then(
    () => undefined,
    (e: unknown) => e,
  );
  const violation = err instanceof Error && err.cause instanceof errors.PermissionViolationError ? err.cause : err;
  expect(violation, subject).toBeInstanceOf(errors.PermissionViolationError);
  expect(violation).toMatchObject({ operation: "publish", subject });
}

async function call(nc: NatsConnection, subject: string, body: unknown, expected = 0): Promise<void> {
  const r = await request(nc, subject, body, 5000);
  if (r.code !== expected) throw new Error(`error ${r.code}: ${String((r.body.error as { message?: string })?.message)}`);
}

/**
 * Starts the service on streams in the given state, then a second replica, which must see the
 * first, and exercises them; the first failure, or undefined.
 */
async function run(
  server: { url: string },
  admin: NatsConnection,
  state: "absent" | "stale",
  env: Record<string, string> = {},
): Promise<string | undefined> {
  await prepareStreams(admin, state);
  const replicas: ServiceProcess[] = [];
  try {
    try {
      for (let i = 0; i < 2; i++) replicas.push(await startService(server, env));
    } catch (err) {
      return `start: ${(err as Error).message}`;
    }
    const seen = replicas[1]!.logs.find((l) => l.msg === "replicas already serving agree")?.replicas;
    if (seen !== 1) return `the second replica saw ${String(seen)} replicas serving, not the first one`;
    const writer = await as(server, "eventstore-writer");
    const eraser = await as(server, "eventstore-eraser");
    const reader = await as(server, "eventstore-reader");
    const replicated = (env.EVENTSTORE_REPLICAS ?? "1") !== "1";
    const failed = await exercise(writer, eraser, reader, replicated).finally(() =>
      Promise.all([writer.close(), eraser.close(), reader.close()]),
    );
    return failed ?? (await projectionLagScraped(admin, replicas[0]!));
  } finally {
    for (const r of replicas) await r.stop();
  }
}

describe("the service with exactly the permissions of deploy/permissions.conf", () => {
  let server: NatsServer & { log: () => string };
  let admin: NatsConnection;

  beforeAll(async () => {
    server = await serverWith(readFileSync(PERMISSIONS_FILE, "utf8"));
    admin = await as(server, "admin");
  });
  afterAll(async () => {
    await admin?.close();
    await server?.stop();
  });

  it("creates its streams, serves every endpoint and $SRV verb, and trips no permission", async () => {
    const r = await run(server, admin, "absent");
    expect(r).toBeUndefined();
    const jsm = await jetstreamManager(admin);
    // The exercise erases its actor at the end: its tombstone is all that is left of it (its tag
    // links went with its events), beside the guard message, which holds nothing of the actor.
    const subjects = (await jsm.streams.info("EVENTS", { subjects_filter: ">" })).state.subjects ?? {};
    expect(
      Object.entries(subjects)
        .map(([subject, n]) => [subject.replace(/^EVENTS\.events\.order\..*/, "EVENTS.events.order.<actor>"), n])
        .sort(),
    ).toEqual([
      ["EVENTS.events.order.<actor>", 1],
      ["EVENTS.guard", 1],
    ]);
    expect(server.log()).not.toMatch(/violation/i);
  });

  it("updates streams an operator created with other settings, then serves", async () => {
    expect(await run(server, admin, "stale")).toBeUndefined();
    const jsm = await jetstreamManager(admin);
    expect((await jsm.streams.info("EVENTS")).config.allow_direct).toBe(true);
    expect((await jsm.streams.info("EVENTS_SNAPSHOTS")).config.max_msgs_per_subject).toBe(3);
    expect(server.log()).not.toMatch(/violation/i);
  });

  it("lets a writer use every endpoint but not the stream, the JetStream API or the service's inboxes", async () => {
    const service = await startService(server);
    try {
      const writer = await as(server, "eventstore-writer");
      const eraser = await as(server, "eventstore-eraser");
      const reader = await as(server, "eventstore-reader");
      try {
        expect(await exercise(writer, eraser, reader)).toBeUndefined();
        await expectRefused(
          writer.request("eventstore.erase", JSON.stringify({ actorId: "order-1" }), { timeout: 3000 }),
          "eventstore.erase",
        );
        await expectRefused(writer.request("EVENTS.events.order.order-1", "{}", { timeout: 3000 }), "EVENTS.events.order.order-1");
        await expectRefused(writer.request("$JS.API.STREAM.INFO.EVENTS", Empty, { timeout: 3000 }), "$JS.API.STREAM.INFO.EVENTS");
        const snoop = writer.subscribe("_INBOX_eventstore.>");
        expect(await snoop.closed).toBeInstanceOf(errors.PermissionViolationError);
      } finally {
        await writer.close();
        await eraser.close();
        await reader.close();
      }
    } finally {
      await service.stop();
    }
  });

  it("lets a reader read, and the server itself refuses its writes", async () => {
    const service = await startService(server);
    const callers: NatsConnection[] = [];
    try {
      const writer = await as(server, "eventstore-writer");
      const reader = await as(server, "eventstore-reader");
      callers.push(writer, reader);
      const actorId = `order-${randomUUID()}`;
      await call(writer, "eventstore.save", { id: randomUUID(), eventType: "T", actorId, version: 1, data: {} });
      await call(writer, "eventstore.snapshot.save", { actorId, version: 1, state: {} });
      const jsm = await jetstreamManager(admin);
      const counts = async () => [
        (await jsm.streams.info("EVENTS")).state.messages,
        (await jsm.streams.info("EVENTS_SNAPSHOTS")).state.messages,
      ];
      const before = await counts();

      expect(await request(reader, "eventstore.events", { actorId })).toMatchObject({ code: 0, body: { events: [{ version: 1 }] } });
      expect(await request(reader, "eventstore.version", { actorId })).toMatchObject({ code: 0, body: { version: 1 } });
      expect(await request(reader, "eventstore.snapshot.get", { actorId })).toMatchObject({ code: 0, body: { version: 1 } });
      const event = { id: randomUUID(), eventType: "T", actorId, version: 2, data: {} };
      for (const [subject, body] of [
        ["eventstore.save", event],
        ["eventstore.append", { actorId, events: [event] }],
        ["eventstore.snapshot.save", { actorId, version: 1, state: {} }],
      ] as const) {
        await expectRefused(request(reader, subject, body, 3000), subject);
      }
      expect(await counts()).toEqual(before);
      expect(server.log()).toMatch(/Publish Violation.*eventstore\.save/);
    } finally {
      for (const nc of callers) await nc.close();
      await service.stop();
    }
  });
});

describe("a permission NATS refuses a caller", () => {
  let server: NatsServer;
  let service: ServiceProcess;

  beforeAll(async () => {
    server = await serverWith(readFileSync(PERMISSIONS_FILE, "utf8"));
    service = await startService(server);
  });
  afterAll(async () => {
    await service?.stop();
    await server?.stop();
  });

  it("is a PermissionError (403) in the client, tried once, never an UnavailableError to retry", async () => {
    const reader = await as(server, "eventstore-reader");
    const retries: unknown[] = [];
    const client = new EventStoreClient(reader, { timeoutMs: 3000, retry: { onRetry: (r) => retries.push(r) } });
    try {
      const actorId = `order-${randomUUID()}`;
      const err = await client.save({ id: randomUUID(), eventType: "T", actorId, version: 1, data: {} }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(PermissionError);
      expect(err).toMatchObject({ code: 403, operation: "publish", subject: "eventstore.save" });
      expect((err as Error).message).toContain("eventstore.save");
      expect(retries).toEqual([]);
      // what the role may do still works on the same connection
      expect(await client.version(actorId)).toBe(0);
    } finally {
      await reader.close();
    }
  });

  it("makes the CLI exit 1 with the reason", async () => {
    const event = JSON.stringify({ id: randomUUID(), eventType: "T", actorId: "order-1", version: 1, data: {} });
    const r = await runCli(["save", event, "--timeout", "3000"], {
      env: {
        NATS_URL: server.url,
        NATS_USER: "eventstore-reader",
        NATS_PASSWORD: passwords["eventstore-reader"],
        NATS_INBOX_PREFIX: ROLE_INBOX_PREFIX["eventstore-reader"]!,
      },
    });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain("NATS refused the publish to eventstore.save");
    expect(r.stderr).not.toMatch(/unavailable|retry/i);
  });
});

interface Grant {
  line: number;
  role: string;
  grant: string;
  /** Marked as needed by replicated streams only: on a single node it cannot be proven needed. */
  replicatedOnly: boolean;
  /** Marked as optional: the service serves every endpoint without it (another, slower way). */
  optional: boolean;
}

/** The lines of a role that grant something: each allowed subject. */
function roleGrants(text: string, role: string): Grant[] {
  const lines = text.split("\n");
  const grants: Grant[] = [];
  const start = lines.findIndex((l) => l.trim() === `${role}: {`);
  const indent = lines[start]!.indexOf("E");
  const end = lines.findIndex((l, i) => i > start && l === `${" ".repeat(indent)}}`);
  // The comment above a group of grants marks each grant of the group.
  let comment = "";
  for (let i = start + 1; i < end; i++) {
    const grant = lines[i]!.trim();
    if (grant.startsWith("#")) comment = lines[i - 1]!.trim().startsWith("#") ? `${comment} ${grant}` : grant;
    const replicatedOnly = comment.includes("Replicated streams only");
    const optional = comment.startsWith("# Optional");
    if (/^"[^"]+"$/.test(grant) || grant.startsWith("allow_responses")) grants.push({ line: i, role, grant, replicatedOnly, optional });
  }
  return grants;
}

/** The grants of the service's two roles. */
function serviceGrants(text: string): Grant[] {
  return ["EVENTSTORE_SERVICE", "EVENTSTORE_JETSTREAM"].flatMap((role) => roleGrants(text, role));
}

/** The shipped file with one grant replaced by one that grants nothing (an allow list left empty would mean no restriction). */
function without(text: string, { line }: Grant): string {
  const lines = text.split("\n");
  lines[line] = lines[line]!.replace(/"[^"]+"/, '"nothing.granted"');
  return lines.join("\n");
}

describe("every grant of the service's two roles is needed", () => {
  const shipped = readFileSync(PERMISSIONS_FILE, "utf8");
  const grants = serviceGrants(shipped).filter((g) => !g.replicatedOnly && !g.optional);

  it("finds the service's grants in the shipped file, and no allow_responses", () => {
    expect(grants.length).toBeGreaterThanOrEqual(25);
    expect(grants).toContainEqual(expect.objectContaining({ role: "EVENTSTORE_JETSTREAM", grant: '"EVENTS.events.>"' }));
    expect(grants).toContainEqual(expect.objectContaining({ role: "EVENTSTORE_SERVICE", grant: '"_INBOX_writer.>"' }));
    // Not the JetStream inboxes: a reply there would pass for JetStream's answer.
    expect(grants.filter((g) => g.role === "EVENTSTORE_SERVICE").map((g) => g.grant)).not.toContain('"_INBOX_eventstore.>"');
    // allow_responses lets a request's reply subject name any subject, the stream's and $JS.API's included.
    expect(shipped).not.toMatch(/^\s*allow_responses/m);
  });

  it.each(grants)("without $grant of $role the service fails", async (grant) => {
    const server = await serverWith(without(shipped, grant));
    const admin = await as(server, "admin");
    try {
      const failure = (await run(server, admin, "absent")) ?? (await run(server, admin, "stale"));
      expect(failure).toBeDefined();
    } finally {
      await admin.close();
      await server.stop();
    }
  });
});

describe("a write whose message the service's JetStream identity may not publish", () => {
  const shipped = readFileSync(PERMISSIONS_FILE, "utf8");
  const grant = (text: string) => serviceGrants(shipped).find((g) => g.role === "EVENTSTORE_JETSTREAM" && g.grant === text)!;

  // NATS sends no reply to a refused publish; the service must not wait for its timeout (2 s here)
  // and answer 503, which tells the caller to retry what cannot succeed.
  it.each([
    ['"EVENTS.events.>"', "a save", { actorId: `refused-${randomUUID()}`, eventType: "Opened", version: 1, data: {} }],
    [
      '"EVENTS.tags.>"',
      "a tagged save",
      { actorId: `refused-${randomUUID()}`, eventType: "Opened", version: 1, data: {}, tags: ["refused"] },
    ],
  ])("without %s, %s answers 500 at once and the log names the permission", async (text, _what, event) => {
    const server = await serverWith(without(shipped, grant(text)));
    const admin = await as(server, "admin");
    const service = await startService(server);
    const writer = await as(server, "eventstore-writer");
    try {
      const start = performance.now();
      const r = await request(writer, "eventstore.save", { id: randomUUID(), ...event }, 5000);
      expect(r.code).toBe(500);
      expect(performance.now() - start).toBeLessThan(1000);
      await eventually(async () => {
        expect(service.logs.some((l) => JSON.stringify(l).includes("lacks a permission"))).toBe(true);
      });
    } finally {
      await writer.close();
      await service.stop();
      await admin.close();
      await server.stop();
    }
  });
});

describe("the JetStream identity's credentials", () => {
  it("a wrong one stops the start and names its variables, never the password", async () => {
    const server = await serverWith(readFileSync(PERMISSIONS_FILE, "utf8"));
    try {
      const wrong = `wrong-${randomUUID()}`;
      const { code, output } = await runServiceToExit({
        NATS_URL: server.url,
        ...SERVICE_ENV,
        ...IDENTITIES,
        NATS_JETSTREAM_PASSWORD: wrong,
      });
      expect(code, output).toBe(1);
      expect(output).toContain("the NATS server refused the credentials (configured: NATS_JETSTREAM_USER/NATS_JETSTREAM_PASSWORD)");
      expect(output).not.toContain(wrong);
    } finally {
      await server.stop();
    }
  });
});

describe("a missing permission stops the start with a message that names it", () => {
  const shipped = readFileSync(PERMISSIONS_FILE, "utf8");

  it.each([
    ['"$JS.API.INFO"', /lacks a permission the service needs \(publish \$JS\.API\.INFO\).*eventstore could not start/],
    ['"eventstore.save"', /lacks a permission the service needs \(subscription eventstore\.save\).*eventstore cannot serve/],
  ])("without %s", async (grant, says) => {
    const server = await serverWith(shipped.replace(new RegExp(`^\\s*${grant.replace(/[$.]/g, "\\$&")}\\n`, "m"), ""));
    try {
      const { code, output } = await runServiceToExit({ NATS_URL: server.url, ...SERVICE_ENV, ...IDENTITIES });
      expect(code, output).toBe(1);
      expect(output).toMatch(says);
    } finally {
      await server.stop();
    }
  });
});

/**
 * A projection's whole life as the projector role, over events an admin stored: run it ordered
 * (create, pull, ack, the rewind on becoming active, the hand-over on stop), from "new" in shared
 * mode with a skipped event (stream info, metadata update), list, reset to a time and remove.
 * The first failure, or undefined.
 */
async function projectorExercise(server: NatsServer, admin: NatsConnection): Promise<string | undefined> {
  const jsm = await jetstreamManager(admin);
  await jsm.streams.delete("EVENTS").catch(() => undefined);
  await jsm.streams.add({ name: "EVENTS", subjects: ["EVENTS.events.>"], storage: StorageType.File, allow_direct: true });
  const js = jetstream(admin);
  const publish = (n: number) =>
    js.publish(`EVENTS.events.order.order-${n}`, JSON.stringify({ id: `e-${n}`, actorId: `order-${n}`, version: 1, data: {} }));
  await publish(1);
  const nc = await as(server, "eventstore-projector");
  const store = new EventStoreClient(nc, { stream: "EVENTS", timeoutMs: 3000 });
  const wait = async (what: string, condition: () => boolean) => {
    const deadline = Date.now() + 5000;
    while (!condition()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const steps: [string, () => Promise<unknown>][] = [];
  const ordered: number[] = [];
  const shared: number[] = [];
  let skipped = 0;
  steps.push(
    [
      "ordered",
      async () => {
        const p = await store.project("perm-ordered", (i) => void ordered.push(i.sequence), {
          pinTtlMs: 3000,
          initialDelayMs: 1,
          maxDelayMs: 1,
        });
        await wait("the ordered projection's event", () => ordered.length === 1);
        await p.stop();
        const info = await (await jetstreamManager(nc, { checkAPI: false })).consumers.info("EVENTS", "proj-perm-ordered");
        if (info.ack_floor.stream_seq !== 1) throw new Error("not acknowledged");
        // Handed over: no process is pinned any more.
        const pinned = (info as { priority_groups?: { pinned_client_id?: string }[] }).priority_groups?.[0]?.pinned_client_id;
        if (pinned) throw new Error(`still pinned to ${pinned} after stop`);
      },
    ],
    [
      "shared from new, skipping",
      async () => {
        const p = await store.project(
          "perm-shared",
          (i) => {
            if (i.sequence === 2) throw new Error("bad event");
            shared.push(i.sequence);
          },
          { mode: "shared", from: "new", maxAttempts: 2, onFailure: "skip", initialDelayMs: 1, maxDelayMs: 1 },
        );
        p.on("skipped", () => skipped++);
        await publish(2);
        await publish(3);
        await wait("the shared projection's events", () => shared.length === 1 && skipped === 1);
        await p.stop();
      },
    ],
    [
      "ls",
      async () => {
        const names = (await store.projections()).map((p) => `${p.name}:${p.skipped.join(",")}`);
        if (names.join(" ") !== "perm-ordered: perm-shared:2") throw new Error(`ls showed ${names.join(" ")}`);
      },
    ],
    ["reset to a time", () => store.resetProjection("perm-ordered", { time: new Date(0) })],
    [
      "rm",
      async () => {
        if (!(await store.removeProjection("perm-ordered"))) throw new Error("nothing removed");
      },
    ],
  );
  try {
    return await firstFailure(steps);
  } finally {
    await nc.close();
  }
}

describe("the projector role", () => {
  const shipped = readFileSync(PERMISSIONS_FILE, "utf8");
  const grants = roleGrants(shipped, "EVENTSTORE_PROJECTOR");

  it("runs, lists, resets and removes projections, and may not write to the stream, delete it or call the service", async () => {
    const server = await serverWith(shipped);
    const admin = await as(server, "admin");
    const projector = await as(server, "eventstore-projector");
    try {
      expect(await projectorExercise(server, admin)).toBeUndefined();
      expect(server.log()).not.toMatch(/violation/i);
      await expectRefused(projector.request("EVENTS.events.order.order-1", "{}", { timeout: 3000 }), "EVENTS.events.order.order-1");
      await expectRefused(projector.request("$JS.API.STREAM.DELETE.EVENTS", Empty, { timeout: 3000 }), "$JS.API.STREAM.DELETE.EVENTS");
      await expectRefused(projector.request("$JS.API.STREAM.PURGE.EVENTS", Empty, { timeout: 3000 }), "$JS.API.STREAM.PURGE.EVENTS");
      await expectRefused(projector.request("eventstore.save", "{}", { timeout: 3000 }), "eventstore.save");
    } finally {
      await projector.close();
      await admin.close();
      await server.stop();
    }
  });

  it("finds the projector's grants in the shipped file", () => {
    expect(grants.length).toBeGreaterThanOrEqual(10);
    expect(grants.map((g) => g.grant)).toContain('"$JS.API.CONSUMER.RESET.EVENTS.*"');
  });

  it.each(grants)("without $grant the projection's life fails", async (grant) => {
    const server = await serverWith(without(shipped, grant));
    const admin = await as(server, "admin");
    try {
      expect(await projectorExercise(server, admin)).toBeDefined();
    } finally {
      await admin.close();
      await server.stop();
    }
  });
});

/** The caller roles, and a CLI command each may run (the projector's needs the stream, which it may read). */
const CALLER_ROLES: { user: keyof typeof passwords; command: (actorId: string) => string[] }[] = [
  {
    user: "eventstore-writer",
    command: (actorId) => ["save", JSON.stringify({ id: randomUUID(), eventType: "T", actorId, version: 1, data: {} })],
  },
  { user: "eventstore-reader", command: (actorId) => ["events", actorId] },
  { user: "eventstore-eraser", command: (actorId) => ["erase", actorId, "--yes"] },
  { user: "eventstore-projector", command: () => ["projections", "ls", "--stream", "EVENTS"] },
];

/** Whether the server refuses nc a subscription: it answers the SUB before the PONG of the flush after it. */
async function subscriptionRefused(nc: NatsConnection, subject: string): Promise<boolean> {
  const sub = nc.subscribe(subject);
  await nc.flush();
  if (!sub.isClosed()) {
    sub.unsubscribe();
    return false;
  }
  return (await sub.closed) instanceof errors.PermissionViolationError;
}

describe("each caller role has inboxes of its own", () => {
  const shipped = readFileSync(PERMISSIONS_FILE, "utf8");
  let server: NatsServer & { log: () => string };
  let service: ServiceProcess;

  beforeAll(async () => {
    server = await serverWith(shipped);
    service = await startService(server);
  });
  afterAll(async () => {
    await service?.stop();
    await server?.stop();
  });

  it.each(CALLER_ROLES)(
    "$user subscribes to its own inboxes only, and the CLI works through them with NATS_INBOX_PREFIX",
    async ({ user, command }) => {
      const own = ROLE_INBOX_PREFIX[user]!;
      const others = ["_INBOX", "_INBOX_eventstore", ...Object.values(ROLE_INBOX_PREFIX).filter((p) => p !== own)];
      const nc = await as(server, user);
      try {
        for (const prefix of others) expect(await subscriptionRefused(nc, `${prefix}.>`), prefix).toBe(true);
        // Nor any part of the service's: neither its JetStream answers nor the replicas'.
        expect(await subscriptionRefused(nc, "_INBOX_eventstore.js.>")).toBe(true);
        expect(await subscriptionRefused(nc, "_INBOX_eventstore.replicas.>")).toBe(true);
        expect(await subscriptionRefused(nc, `${own}.>`)).toBe(false);
      } finally {
        await nc.close();
      }

      const env = { NATS_URL: server.url, NATS_USER: user, NATS_PASSWORD: passwords[user] };
      const actorId = `order-${randomUUID()}`;
      const writer = await as(server, "eventstore-writer");
      try {
        await call(writer, "eventstore.save", { id: randomUUID(), eventType: "T", actorId, version: 1, data: {} });
      } finally {
        await writer.close();
      }
      const args = [...command(`${actorId}${user === "eventstore-writer" ? "-new" : ""}`), "--timeout", "3000"];
      const ok = await runCli(args, { env: { ...env, NATS_INBOX_PREFIX: own } });
      expect(ok.code, ok.stderr).toBe(0);
      // The default inbox prefix is another role's business: the server refuses the CLI's subscription.
      const refused = await runCli(args, { env });
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toMatch(/(NATS refused the subscription to |Permissions Violation for Subscription to ")_INBOX\./);
    },
  );
});

// On a replicated stream the service reads what must include every acknowledged write from the
// stream leader ($JS.API.STREAM.MSG.GET), for the events and the snapshots stream alike.
describe("on a 3-node cluster (EVENTSTORE_REPLICAS=3), with exactly the shipped file", () => {
  const shipped = readFileSync(PERMISSIONS_FILE, "utf8");
  const REPLICATED = { EVENTSTORE_REPLICAS: "3" };

  /** The service's run on a cluster whose nodes include permissionsText: the first failure, or undefined, and the nodes' log. */
  async function runOnCluster(permissionsText: string): Promise<{ failure: string | undefined; log: string }> {
    const { cluster, log } = await clusterWith(permissionsText);
    const target = { url: cluster.urls };
    const admin = await as(target, "admin");
    try {
      const failure = (await run(target, admin, "absent", REPLICATED)) ?? (await run(target, admin, "stale", REPLICATED));
      return { failure, log: log() };
    } finally {
      await admin.close();
      await cluster.stop();
    }
  }

  it("creates its streams, serves every endpoint and $SRV verb, and trips no permission", async () => {
    const { failure, log } = await runOnCluster(shipped);
    expect(failure).toBeUndefined();
    expect(log).not.toMatch(/violation/i);
  });

  const replicatedOnly = serviceGrants(shipped).filter((g) => g.replicatedOnly);

  it("finds the grants marked for replicated streams", () => {
    expect(replicatedOnly.map((g) => g.grant)).toEqual(['"$JS.API.STREAM.MSG.GET.EVENTS"', '"$JS.API.STREAM.MSG.GET.EVENTS_SNAPSHOTS"']);
  });

  it.each(replicatedOnly)("without $grant the service fails", async (grant) => {
    expect((await runOnCluster(without(shipped, grant))).failure).toBeDefined();
  });
});

describe("the service without permission to create consumers (issue 22, finding 8)", () => {
  let server: NatsServer;
  let admin: NatsConnection;

  beforeAll(async () => {
    const shipped = readFileSync(PERMISSIONS_FILE, "utf8");
    const optional = serviceGrants(shipped).filter((g) => g.optional);
    expect(optional.map((g) => g.grant)).toEqual([
      '"$JS.API.CONSUMER.CREATE.EVENTS.>"',
      '"$JS.API.CONSUMER.MSG.NEXT.EVENTS.*"',
      '"$JS.API.CONSUMER.DELETE.EVENTS.*"',
    ]);
    const withoutConsumers = optional.reduce(without, shipped);
    expect(serviceGrants(withoutConsumers).filter((g) => /\$JS\.API\.CONSUMER\.(CREATE|MSG\.NEXT|DELETE)\./.test(g.grant))).toEqual([]);
    server = await serverWith(withoutConsumers);
    admin = await as(server, "admin");
  });
  afterAll(async () => {
    await admin?.close();
    await server?.stop();
  });

  it("serves every endpoint, long reads through direct gets", async () => {
    expect(await run(server, admin, "absent")).toBeUndefined();
  });
});
