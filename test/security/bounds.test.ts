import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AckPolicy, DeliverPolicy, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EventStoreClient } from "../../src/client/client.js";
import { InternalError } from "../../src/contract/errors.js";
import { DROP_WINDOW_MS, DROPS_LOGGED_PER_WINDOW } from "../../src/server/service/reply-guard.js";
import { type NatsServer, startNatsServer } from "../harness/nats-server.js";
import { request } from "../harness/requests.js";
import { ROLE_INBOX_PREFIX, rolePasswords } from "../harness/role-passwords.js";
import { ROOT, type ServiceProcess, startServiceProcess } from "../harness/service-process.js";

// What one caller can take from the others is bounded by the configuration the project ships
// (deploy/), as its comments say: the storage JetStream may use, the consumers a projector may
// create, and what a push consumer aimed at the service costs the service's log.

const passwords = rolePasswords();
const PERMISSIONS = readFileSync(join(ROOT, "deploy", "permissions.conf"), "utf8");

/** The shipped permissions plus an admin, and `extra` inside the file's authorization block. */
function permissionsWith(extra = "", usersExtra = ""): string {
  return PERMISSIONS.replace(/^(\s*users: \[\n)/m, `${extra}\n$1    { user: admin, password: "${passwords.admin}" }\n${usersExtra}`);
}

/** The lines of a commented block of the shipped files, uncommented: `# x` becomes `x`. */
function uncommented(text: string, first: RegExp, last: RegExp): string {
  const lines = text.split("\n");
  const start = lines.findIndex((l) => first.test(l));
  const end = lines.findIndex((l, i) => i >= start && last.test(l));
  expect(start, String(first)).toBeGreaterThanOrEqual(0);
  return lines
    .slice(start, end + 1)
    .map((l) => l.replace(/^(\s*)# ?/, "$1"))
    .join("\n");
}

async function serverWith(permissions: string, jetstream = ""): Promise<NatsServer> {
  const dir = mkdtempSync(join(tmpdir(), "es-nats-"));
  writeFileSync(join(dir, "permissions.conf"), permissions);
  return startNatsServer({
    dir,
    jetstream: false,
    config: `jetstream { store_dir: ${JSON.stringify(join(dir, "js"))}\n${jetstream} }\ninclude permissions.conf`,
  });
}

const as = (server: NatsServer, user: string, pass: string) =>
  connect({ servers: server.url, user, pass, inboxPrefix: ROLE_INBOX_PREFIX[user] ?? "_INBOX_projector" });

function startService(server: NatsServer): Promise<ServiceProcess> {
  return startServiceProcess(server.url, {
    NATS_INBOX_PREFIX: "_INBOX_eventstore",
    EVENTSTORE_JS_TIMEOUT_MS: "2000",
    NATS_USER: "eventstore",
    NATS_PASSWORD: passwords.eventstore,
    NATS_JETSTREAM_USER: "eventstore-jetstream",
    NATS_JETSTREAM_PASSWORD: passwords["eventstore-jetstream"],
  });
}

describe("a store at the storage limit of deploy/nats-1.conf", () => {
  let server: NatsServer;
  let service: ServiceProcess;
  beforeAll(async () => {
    // The shipped lines, at a size a test fills in a moment.
    const limits = uncommented(readFileSync(join(ROOT, "deploy", "nats-1.conf"), "utf8"), /# max_file_store:/, /# max_memory_store:/)
      .replace(/max_file_store: \S+/, "max_file_store: 2MB")
      .replace(/max_memory_store: \S+/, "max_memory_store: 64MB");
    expect(limits).toMatch(/^\s*max_file_store: 2MB\n\s*max_memory_store: 64MB$/);
    server = await serverWith(permissionsWith(), limits);
    service = await startService(server);
  });
  afterAll(async () => {
    await service?.stop();
    await server?.stop();
  });

  it("answers a save it cannot store with a 500 that says the store is full, which the client does not retry; reads go on", async () => {
    const writer = await as(server, "eventstore-writer", passwords["eventstore-writer"]);
    const retries: unknown[] = [];
    const client = new EventStoreClient(writer, { timeoutMs: 5000, retry: { onRetry: (r) => retries.push(r) } });
    const actorId = `order-${randomUUID()}`;
    const big = "x".repeat(100_000);
    try {
      let failure: unknown;
      let version = 0;
      while (failure === undefined && version < 100) {
        version++;
        await client.save({ id: randomUUID(), eventType: "T", actorId, version, data: { big } }).catch((err: unknown) => {
          failure = err;
        });
      }
      expect(version).toBeGreaterThan(1);
      expect(failure).toBeInstanceOf(InternalError);
      expect((failure as Error).message).toMatch(/the event store is full \(JetStream 100\d\d: .*retrying will not help/);
      expect(retries).toEqual([]);
      // On the wire: 500, with the reason in the body and the header.
      const raw = await request(writer, "eventstore.save", { id: randomUUID(), eventType: "T", actorId, version, data: { big } });
      expect(raw.code).toBe(500);
      expect(raw.errorHeader).toMatch(/^the event store is full/);
      expect(await client.version(actorId)).toBe(version - 1);
      expect(service.logs.some((l) => l.msg === "request failed" && String(l.err).startsWith("the event store is full"))).toBe(true);
    } finally {
      await writer.close();
    }
  });
});

describe("a projector bounded to its projections (EVENTSTORE_PROJECTOR_ORDERS of deploy/permissions.conf)", () => {
  it("runs its projection, and may create no other consumer", async () => {
    const role = uncommented(PERMISSIONS, /# EVENTSTORE_PROJECTOR_ORDERS: \{/, /^ {2}# \}$/);
    const user = uncommented(PERMISSIONS, /# \{ user: eventstore-projector-orders/, /# \{ user: eventstore-projector-orders/);
    const password = `s${randomUUID().replace(/-/g, "")}`;
    process.env.PROJECTOR_ORDERS_NATS_PASSWORD = password;
    const server = await serverWith(permissionsWith(role, `${user}\n`));
    const admin = await connect({ servers: server.url, user: "admin", pass: passwords.admin });
    const projector = await as(server, "eventstore-projector-orders", password);
    try {
      const jsm = await jetstreamManager(admin);
      await jsm.streams.add({ name: "EVENTS", subjects: ["EVENTS.events.>"], allow_direct: true });
      await admin.publish("EVENTS.events.order.order-1", JSON.stringify({ id: "e1", actorId: "order-1", version: 1, data: {} }));
      const store = new EventStoreClient(projector, { stream: "EVENTS", timeoutMs: 3000 });
      const seen: number[] = [];
      const orders = await store.project("orders", (i) => void seen.push(i.sequence), { pinTtlMs: 3000, initialDelayMs: 1, maxDelayMs: 1 });
      await expect.poll(() => seen, { timeout: 10_000 }).toEqual([1]);
      await orders.stop();
      const other = await store
        .project("other", () => undefined)
        .then(
          (p) => p.stop().then(() => undefined),
          (err: unknown) => err,
        );
      expect(String(other)).toMatch(/Permissions Violation for Publish to "\$JS\.API\.CONSUMER\.(INFO|CREATE)\.EVENTS\.proj-other"/);
      const pjm = await jetstreamManager(projector, { checkAPI: false });
      const push = await pjm.consumers
        .add("EVENTS", { durable_name: "anything", ack_policy: AckPolicy.None, deliver_subject: "eventstore.save" })
        .then(
          () => undefined,
          (err: unknown) => err,
        );
      expect(push).toBeDefined();
      expect((await jsm.consumers.list("EVENTS").next()).map((c) => c.name)).toEqual(["proj-orders"]);
    } finally {
      await projector.close();
      await admin.close();
      await server.stop();
    }
  });
});

describe("a push consumer that delivers the stream to the service", () => {
  let server: NatsServer;
  let service: ServiceProcess;
  let admin: NatsConnection;
  beforeAll(async () => {
    server = await serverWith(permissionsWith());
    service = await startService(server);
    admin = await connect({ servers: server.url, user: "admin", pass: passwords.admin });
  });
  afterAll(async () => {
    await admin?.close();
    await service?.stop();
    await server?.stop();
  });

  it("costs the service's log a bounded number of lines, with the count of the rest", async () => {
    const writer = await as(server, "eventstore-writer", passwords["eventstore-writer"]);
    const projector = await as(server, "eventstore-projector", passwords["eventstore-projector"]);
    const events = 2 * DROPS_LOGGED_PER_WINDOW;
    try {
      const actorId = `order-${randomUUID()}`;
      const batch = Array.from({ length: events }, (_, i) => ({ id: randomUUID(), eventType: "T", actorId, version: i + 1, data: {} }));
      expect((await request(writer, "eventstore.append", { actorId, events: batch })).code).toBe(0);
      // What the shipped projector role may do: permissions cannot see a consumer's delivery subject.
      const pjm = await jetstreamManager(projector, { checkAPI: false });
      await pjm.consumers.add("EVENTS", {
        durable_name: "push",
        ack_policy: AckPolicy.None,
        deliver_policy: DeliverPolicy.All,
        deliver_subject: "eventstore.save",
        deliver_group: "q",
      });
      const dropped = () => service.logs.filter((l) => l.msg === "dropped a request whose reply subject is not a caller's inbox");
      const counted = () =>
        service.logs
          .filter((l) => l.msg === "dropped a request whose reply subject is not a caller's inbox: more of them, not logged one by one")
          .reduce((n, l) => n + Number(l.dropped), 0);
      // Every delivery is dropped: logged one by one up to the bound, then counted when the window ends.
      await expect.poll(() => dropped().length + counted(), { timeout: DROP_WINDOW_MS + 10_000, interval: 250 }).toBe(events);
      expect(dropped().length).toBe(DROPS_LOGGED_PER_WINDOW);
      expect(dropped().every((l) => String(l.reply).startsWith("$JS.ACK.EVENTS.push."))).toBe(true);
      const jsm = await jetstreamManager(admin);
      expect((await jsm.streams.info("EVENTS")).state.messages).toBe(events);
    } finally {
      await writer.close();
      await projector.close();
    }
  });
});
