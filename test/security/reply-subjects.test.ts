import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, Empty, errors, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type NatsServer, natsServerBin, oldNatsServerBin, startNatsServer } from "../harness/nats-server.js";
import { request } from "../harness/requests.js";
import { ROLE_INBOX_PREFIX, rolePasswords } from "../harness/role-passwords.js";
import { ROOT, type ServiceProcess, startServiceProcess } from "../harness/service-process.js";

// A request names its own reply subject. Aimed at the stream, the JetStream API or $SRV, the
// service's answer would be stored as an event, purge the stream or talk to other services (the
// service as a confused deputy). No such request may change anything, for any caller, on a
// nats-server older than 2.12 (which takes any JSON as an API request) or a current one.

const passwords = rolePasswords();

type User = keyof typeof passwords;

const HOSTILE_REPLIES = [
  "EVENTS.events.order.order-1",
  "EVENTS.snapshots.order.order-3",
  "$JS.API.STREAM.PURGE.EVENTS",
  "$JS.API.STREAM.PURGE.EVENTS_SNAPSHOTS",
  "$JS.API.STREAM.MSG.DELETE.EVENTS",
  "$JS.API.STREAM.MSG.DELETE.EVENTS_SNAPSHOTS",
  "$KV.config.key",
  "$SRV.PING.eventstore",
  "$SRV.INFO",
];

// Never to be logged: the service logs the subjects of a refused request, not its body.
const MARKER = `payload-marker-${randomUUID()}`;

/** Every request a caller could send, each carrying the marker; those its role may not publish the server refuses. */
function requests(): [string, unknown][] {
  const event = { id: randomUUID(), eventType: "T", actorId: "order-1", version: 9, data: { marker: MARKER } };
  return [
    ["eventstore.version", { actorId: "order-1", marker: MARKER }],
    ["eventstore.events", { actorId: "order-1", marker: MARKER }],
    ["eventstore.snapshot.get", { actorId: "order-3", marker: MARKER }],
    ["eventstore.save", event],
    ["eventstore.append", { actorId: "order-1", events: [{ ...event, id: randomUUID() }] }],
    ["eventstore.snapshot.save", { actorId: "order-1", version: 3, state: { marker: MARKER } }],
    ["$SRV.PING", MARKER],
    ["$SRV.PING.eventstore", MARKER],
    ["$SRV.INFO.eventstore", MARKER],
    ["$SRV.STATS.eventstore", MARKER],
  ];
}

interface Setup {
  server: NatsServer;
  service: ServiceProcess;
  admin: NatsConnection;
  connectAs(user: User | undefined): Promise<NatsConnection>;
}

/** A nats-server (optionally with deploy/permissions.conf plus an admin), the service and an admin connection. */
async function setUp(bin: string, withPermissions: boolean): Promise<Setup> {
  let server: NatsServer;
  let serviceEnv: Record<string, string> = { EVENTSTORE_JS_TIMEOUT_MS: "2000" };
  if (withPermissions) {
    const shipped = readFileSync(join(ROOT, "deploy", "permissions.conf"), "utf8");
    const withAdmin = shipped.replace(/^(\s*users: \[\n)/m, `$1    { user: admin, password: "${passwords.admin}" }\n`);
    const dir = mkdtempSync(join(tmpdir(), "es-nats-"));
    writeFileSync(join(dir, "permissions.conf"), withAdmin);
    server = await startNatsServer({ dir, bin, config: "include permissions.conf" });
    serviceEnv = {
      ...serviceEnv,
      NATS_INBOX_PREFIX: "_INBOX_eventstore",
      NATS_USER: "eventstore",
      NATS_PASSWORD: passwords.eventstore,
      NATS_JETSTREAM_USER: "eventstore-jetstream",
      NATS_JETSTREAM_PASSWORD: passwords["eventstore-jetstream"],
    };
  } else {
    server = await startNatsServer({ bin });
  }
  const connectAs = (user: User | undefined) =>
    connect({
      servers: server.url,
      ...(withPermissions && user ? { user, pass: passwords[user], inboxPrefix: ROLE_INBOX_PREFIX[user] } : {}),
    });
  const service = await startServiceProcess(server.url, serviceEnv);
  return { server, service, admin: await connectAs("admin"), connectAs };
}

async function streamStates(admin: NatsConnection): Promise<Record<string, unknown>> {
  const jsm = await jetstreamManager(admin);
  const out: Record<string, unknown> = {};
  for (const name of ["EVENTS", "EVENTS_SNAPSHOTS"]) {
    const { messages, last_seq, first_seq, num_deleted } = (await jsm.streams.info(name)).state;
    out[name] = { messages, last_seq, first_seq, num_deleted };
  }
  return out;
}

async function seed(nc: NatsConnection): Promise<void> {
  for (let version = 1; version <= 3; version++) {
    const r = await request(nc, "eventstore.save", { id: randomUUID(), eventType: "T", actorId: "order-1", version, data: {} });
    expect(r.code).toBe(0);
  }
  for (const actorId of ["order-1", "order-3"]) {
    if (actorId === "order-3") {
      expect((await request(nc, "eventstore.save", { id: randomUUID(), eventType: "T", actorId, version: 1, data: {} })).code).toBe(0);
    }
    expect((await request(nc, "eventstore.snapshot.save", { actorId, version: 1, state: {} })).code).toBe(0);
  }
}

/** Sends every request with every hostile reply subject, then waits for anything the service would still do. */
async function attack(nc: NatsConnection): Promise<void> {
  // A refused publish closes nothing, but surfaces as an error on the connection's status: expected here.
  for (const reply of HOSTILE_REPLIES) {
    for (const [subject, body] of requests()) {
      nc.publish(subject, typeof body === "string" ? body : JSON.stringify(body), { reply });
    }
  }
  await nc.flush();
  await new Promise((r) => setTimeout(r, 1000));
}

async function expectStillServes(nc: NatsConnection): Promise<void> {
  expect((await request(nc, "eventstore.version", { actorId: "order-1" })).body).toEqual({ actorId: "order-1", version: 3 });
  const page = await request(nc, "eventstore.events", { actorId: "order-1" });
  expect((page.body.events as { version: number }[]).map((e) => e.version)).toEqual([1, 2, 3]);
  expect((await request(nc, "eventstore.snapshot.get", { actorId: "order-3" })).body).toMatchObject({ actorId: "order-3", version: 1 });
}

function expectRefusalsLogged(service: ServiceProcess): void {
  const refusals = service.logs.filter((l) => l.msg === "dropped a request whose reply subject is not a caller's inbox");
  for (const reply of HOSTILE_REPLIES) {
    expect(
      refusals.some((l) => l.reply === reply && l.level === 40),
      reply,
    ).toBe(true);
  }
  expect(refusals.some((l) => l.endpoint === "version")).toBe(true);
  expect(refusals.some((l) => String(l.endpoint).startsWith("$SRV.PING"))).toBe(true);
  expect(service.output()).not.toContain(MARKER);
}

/** The subjects nats-server refused to let user publish, from its log (2.9 and 2.10+ word it differently). */
function refusedPublishes(log: string, user: string): string[] {
  const line = new RegExp(`(?:User "${user}", |user:${user}" - Publish Violation - )Subject "([^"]+)"`);
  return log
    .split("\n")
    .filter((l) => l.includes("Publish Violation"))
    .flatMap((l) => {
      const m = line.exec(l);
      return m ? [m[1]!] : [];
    });
}

const SERVERS: [string, () => string][] = [
  ["a current nats-server", natsServerBin],
  ["nats-server 2.9 (older than 2.12)", oldNatsServerBin],
];

describe.each(SERVERS)("on %s", (_label, bin) => {
  describe("one connection, no NATS permissions: the service's own check", () => {
    let s: Setup;
    beforeAll(async () => {
      s = await setUp(bin(), false);
      await seed(s.admin);
    });
    afterAll(async () => {
      await s?.admin.close();
      await s?.service.stop();
      await s?.server.stop();
    });

    it("drops every request whose reply subject is not a caller's inbox, and no stream changes", async () => {
      const before = await streamStates(s.admin);
      const caller = await s.connectAs(undefined);
      try {
        await attack(caller);
      } finally {
        await caller.close();
      }
      expect(await streamStates(s.admin)).toEqual(before);
      await expectStillServes(s.admin);
      expectRefusalsLogged(s.service);
    });
  });

  describe("deploy/permissions.conf, the service's two identities", () => {
    let s: Setup;
    let log = "";
    beforeAll(async () => {
      s = await setUp(bin(), true);
      s.server.process.stderr?.on("data", (d: Buffer) => (log += d.toString()));
      const writer = await s.connectAs("eventstore-writer");
      await seed(writer).finally(() => writer.close());
    });
    afterAll(async () => {
      await s?.admin.close();
      await s?.service.stop();
      await s?.server.stop();
    });

    it.each<User>(["eventstore-reader", "eventstore-writer", "eventstore", "eventstore-jetstream"])(
      "as %s: no request changes a stream, whatever its reply subject",
      async (user) => {
        const before = await streamStates(s.admin);
        const caller = await s.connectAs(user);
        try {
          await attack(caller);
        } finally {
          await caller.close();
        }
        expect(await streamStates(s.admin)).toEqual(before);
        const writer = await s.connectAs("eventstore-writer");
        await expectStillServes(writer).finally(() => writer.close());
        if (user === "eventstore-reader" || user === "eventstore-writer") {
          // The service refused them itself: nats-server never had to stop one of its publishes.
          expect([...refusedPublishes(log, "eventstore"), ...refusedPublishes(log, "eventstore-jetstream")]).toEqual([]);
        }
      },
    );

    it("logs each refusal with its reply subject and endpoint, never the payload", () => {
      expectRefusalsLogged(s.service);
    });

    it("the server itself keeps the identity that takes requests to callers' inboxes", async () => {
      // What a service without its own check could do with that identity: answer to any reply subject.
      const before = await streamStates(s.admin);
      const serving = await s.connectAs("eventstore");
      const reader = await s.connectAs("eventstore-reader");
      try {
        const probe = serving.subscribe("eventstore.version", {
          queue: "probe",
          callback: (_err, msg) => {
            msg.respond(JSON.stringify({ actorId: "order-1", version: 1 }));
          },
        });
        await serving.flush();
        for (const reply of HOSTILE_REPLIES) reader.publish("eventstore.version", JSON.stringify({ actorId: "order-1" }), { reply });
        await reader.flush();
        serving.publish("EVENTS.events.order.order-1", "{}");
        serving.publish("$JS.API.STREAM.PURGE.EVENTS", "{}");
        await serving.flush();
        await new Promise((r) => setTimeout(r, 1000));
        probe.unsubscribe();
        expect(refusedPublishes(log, "eventstore")).toEqual(expect.arrayContaining([...HOSTILE_REPLIES, "$JS.API.STREAM.PURGE.EVENTS"]));
        // ... and the one that uses JetStream takes no request at all.
        const jetstream = await s.connectAs("eventstore-jetstream");
        try {
          const sub = jetstream.subscribe("eventstore.version");
          expect(await sub.closed).toBeInstanceOf(errors.PermissionViolationError);
        } finally {
          await jetstream.close();
        }
      } finally {
        await serving.close();
        await reader.close();
      }
      expect(await streamStates(s.admin)).toEqual(before);
    });
  });
});

/** Resolves once condition() holds; fails after timeoutMs. */
async function until(what: string, condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

// Where JetStream's answers to the service arrive decides what a forged answer can do: aimed at a
// request in flight, it would pass for the stream's acknowledgement of another caller's save.
describe("the service's JetStream inboxes, with deploy/permissions.conf", () => {
  let s: Setup;
  let log = "";
  beforeAll(async () => {
    s = await setUp(natsServerBin(), true);
    s.server.process.stderr?.on("data", (d: Buffer) => (log += d.toString()));
  });
  afterAll(async () => {
    await s?.admin.close();
    await s?.service.stop();
    await s?.server.stop();
  });

  it("cannot be guessed, subscribed to or written to by a reader, and forged answers change nothing for other callers", async () => {
    const marker = `forged-${randomUUID()}`;
    // The admin sees every message that arrives in the service's inboxes: where JetStream answers, and anything forged.
    const arrived: { subject: string; data: string }[] = [];
    const spy = s.admin.subscribe("_INBOX_eventstore.>", {
      callback: (_e, m) => void arrived.push({ subject: m.subject, data: m.string() }),
    });
    await s.admin.flush();
    const writer = await s.connectAs("eventstore-writer");
    const reader = await s.connectAs("eventstore-reader");
    const actorId = `order-${randomUUID()}`;
    const save = (version: number) => request(writer, "eventstore.save", { id: randomUUID(), eventType: "T", actorId, version, data: {} });
    try {
      expect((await save(1)).code).toBe(0);
      await until("a JetStream answer to the service", () => arrived.length > 0);
      // The requester's inbox: the subject without its last token, the request's id.
      const inbox = arrived[0]!.subject.replace(/[^.]+$/, "");
      expect(inbox).toMatch(/^_INBOX_eventstore\.js\./);

      // What any caller learns: the service id. Its NUID prefix must not lead to the inbox.
      const id = ((await reader.request("$SRV.INFO.eventstore", Empty, { timeout: 3000 })).json() as { id: string }).id;
      expect(inbox).not.toContain(id.slice(0, 12));

      // The reader may not listen there ...
      expect(await reader.subscribe("_INBOX_eventstore.>").closed).toBeInstanceOf(errors.PermissionViolationError);
      // ... and, knowing the inbox, aims requests at it (every request id near the service's next ones)
      // while the writer saves: the reply guard drops them, and nats-server would refuse the answers.
      const forging = (async () => {
        for (let round = 0; round < 20; round++) {
          for (let n = 1; n <= 200; n++) {
            reader.publish("eventstore.version", JSON.stringify({ actorId: marker }), { reply: `${inbox}${n + round * 10}` });
          }
          await reader.flush();
        }
      })();
      const answers: number[] = [];
      for (let version = 2; version <= 40; version++) answers.push((await save(version)).code);
      await forging;
      expect(answers.every((code) => code === 0)).toBe(true);
      expect((await request(writer, "eventstore.version", { actorId })).body).toMatchObject({ version: 40 });
      await until("the service to drop the forged requests", () =>
        s.service.logs.some(
          (l) => l.msg === "dropped a request whose reply subject is not a caller's inbox" && String(l.reply).startsWith(inbox),
        ),
      );

      // The identity that takes requests may not publish into a JetStream inbox itself.
      const serving = await s.connectAs("eventstore");
      try {
        serving.publish(`${inbox}1`, JSON.stringify({ actorId: marker }));
        await serving.flush();
        await until("nats-server to refuse the serving identity's publish", () =>
          refusedPublishes(log, "eventstore").includes(`${inbox}1`),
        );
      } finally {
        await serving.close();
      }
      await s.admin.flush();
      expect(arrived.filter((m) => m.data.includes(marker))).toEqual([]);
    } finally {
      spy.unsubscribe();
      await writer.close();
      await reader.close();
    }
  });
});
