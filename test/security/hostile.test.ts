import { randomUUID } from "node:crypto";
import { createConnection } from "node:net";
import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import { connect, Empty, type NatsConnection } from "@nats-io/transport-node";
import { Ajv } from "ajv";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ENDPOINTS as CONTRACT } from "../../src/contract/endpoints.js";
import { bundleSchema, loadSchemas } from "../../src/server/service/validation.js";
import { type NatsServer, startNatsServer } from "../harness/nats-server.js";
import { type Reply, request } from "../harness/requests.js";
import { type ServiceProcess, startServiceProcess } from "../harness/service-process.js";
import { ENDPOINTS, type Endpoint, hostileRequest, legalActorId, SUBJECTS, toJson, validRequest } from "./requests.js";

// Property-based hostile input against the service process: arbitrary bytes, arbitrary JSON and
// near-valid requests (one thing wrong each) on every endpoint. Every request must get a 4xx reply
// that says what is wrong, within the request timeout (a hang fails it), the service must stay up,
// and neither stream may gain a message. The run is seeded: the seed is printed, and
// HOSTILE_SEED=<seed> repeats it. HOSTILE_RUNS scales the number of cases (default 1).

const SEED = Number(process.env.HOSTILE_SEED ?? Math.floor(Math.random() * 2 ** 31));
const SCALE = Number(process.env.HOSTILE_RUNS ?? 1);
const REPLY_TIMEOUT_MS = 5000;
const runs = (n: number) => Math.max(1, Math.round(n * SCALE));

let server: NatsServer;
let service: ServiceProcess;
let nc: NatsConnection;
let jsm: JetStreamManager;
let maxPayload: number;
let maxRequestBytes: number;

interface Tally {
  sent: number;
  byCode: Record<string, number>;
  slowestMs: number;
}
const tally: Record<string, Tally> = {};

/** Sends one request and counts it under label (the endpoint, or "legal <endpoint>" for valid requests). */
async function send(label: string, subject: string, payload: string | Uint8Array): Promise<Reply> {
  tally[label] ??= { sent: 0, byCode: {}, slowestMs: 0 };
  const t = tally[label];
  t.sent++;
  const start = performance.now();
  const reply = await request(nc, subject, payload, REPLY_TIMEOUT_MS);
  t.slowestMs = Math.max(t.slowestMs, performance.now() - start);
  t.byCode[reply.code] = (t.byCode[reply.code] ?? 0) + 1;
  return reply;
}

/** A refusal that a caller can act on: a 4xx in the header and the body, with a message. */
function expectRefused(reply: Reply, context: string): string {
  expect(reply.code, context).toBeGreaterThanOrEqual(400);
  expect(reply.code, context).toBeLessThan(500);
  const error = reply.body.error as { code: number; message: string };
  expect(error.code).toBe(reply.code);
  expect(typeof error.message).toBe("string");
  expect(error.message.length).toBeGreaterThan(0);
  expect(reply.errorHeader).toBeTruthy();
  return error.message;
}

// Whether a value is a valid request of the endpoint by its schema, compiled here on its own rather
// than through the service's validator, so that a validator accepting too much would still be
// caught. Formats pass: this only widens what counts as valid (a timestamp the service refuses),
// and arbitrary JSON never builds an otherwise valid save or snapshot_save.
const schemaValid = (() => {
  const ajv = new Ajv({ strict: true });
  ajv.addFormat("date-time", true);
  const schemas = loadSchemas();
  const validators = new Map(ENDPOINTS.map((e) => [e, ajv.compile(bundleSchema(schemas, CONTRACT[e].requestSchema))]));
  return (endpoint: Endpoint, value: unknown) => validators.get(endpoint)!(value);
})();

const streamCounts = async () => [
  (await jsm.streams.info("EVENTS")).state.messages,
  (await jsm.streams.info("EVENTS_SNAPSHOTS")).state.messages,
];

beforeAll(async () => {
  console.log(`hostile-input seed: ${SEED} (repeat with HOSTILE_SEED=${SEED})`);
  server = await startNatsServer();
  service = await startServiceProcess(server.url);
  nc = await connect({ servers: server.url });
  jsm = await jetstreamManager(nc);
  maxPayload = nc.info!.max_payload;
  maxRequestBytes = Number(service.logs.find((l) => l.msg === "service started")!.maxRequestBytes);
});

afterAll(async () => {
  const rows = Object.entries(tally).map(([label, t]) => ({
    requests: label,
    sent: t.sent,
    "4xx": Object.entries(t.byCode)
      .filter(([c]) => c >= "400" && c < "500")
      .reduce((n, [, k]) => n + k, 0),
    "5xx": Object.entries(t.byCode)
      .filter(([c]) => c >= "500")
      .reduce((n, [, k]) => n + k, 0),
    ok: t.byCode["0"] ?? 0,
    slowestMs: Math.round(t.slowestMs),
  }));
  console.log(`hostile-input seed ${SEED}:`);
  console.table(rows);
  await nc?.close();
  await service?.stop();
  await server?.stop();
});

describe("hostile requests", () => {
  let before: number[];
  beforeAll(async () => {
    before = await streamCounts();
  });

  describe.each(ENDPOINTS)("%s", (endpoint) => {
    const subject = SUBJECTS[endpoint];
    const params = (numRuns: number) => ({ seed: SEED, numRuns: runs(numRuns), endOnFailure: true });

    it("refuses arbitrary bytes", async () => {
      const bytes = fc.oneof(
        fc.uint8Array({ maxLength: 600 }),
        fc.string({ unit: "binary", maxLength: 200 }).map((s) => new TextEncoder().encode(s)),
        // invalid UTF-8 inside what is otherwise a request
        fc.uint8Array({ minLength: 1, maxLength: 4 }).map((b) => {
          const head = new TextEncoder().encode('{"actorId":"');
          return new Uint8Array([...head, 0xc0, ...b.map((x) => x | 0x80), ...new TextEncoder().encode('"}')]);
        }),
      );
      await fc.assert(
        fc.asyncProperty(bytes, async (payload) => {
          expectRefused(await send(endpoint, subject, payload), `${payload.length} bytes`);
        }),
        params(400),
      );
    });

    it("refuses arbitrary JSON", async () => {
      const value = fc.oneof(
        fc.jsonValue({ maxDepth: 4 }),
        fc.jsonValue({ maxDepth: 2 }).map((v) => ({ actorId: v })),
      );
      await fc.assert(
        fc.asyncProperty(value, async (v) => {
          const text = JSON.stringify(v);
          fc.pre(text !== undefined);
          // Valid requests ({"actorId": "<legal>"} for events, {} for read) are left to the acceptance tests below.
          fc.pre(!schemaValid(endpoint, JSON.parse(text)));
          expectRefused(await send(endpoint, subject, text), text.slice(0, 200));
        }),
        params(300),
      );
    });

    it("refuses near-valid requests, naming the field that is wrong", async () => {
      await fc.assert(
        fc.asyncProperty(hostileRequest(endpoint), async ({ text, mutation, path, says }) => {
          const context = `${mutation}: ${text.slice(0, 300)}`;
          const message = expectRefused(await send(endpoint, subject, text), context);
          if (path !== undefined) expect(message, context).toContain(path);
          if (says) expect(message, context).toMatch(says);
          expect(path ?? says, context).toBeDefined();
        }),
        params(1500),
      );
    });
  });

  it("refuses a valid request behind a UTF-8 byte order mark on every endpoint, storing nothing", async () => {
    const bom = new Uint8Array([0xef, 0xbb, 0xbf]);
    for (const endpoint of ENDPOINTS) {
      const [valid] = fc.sample(
        validRequest(
          endpoint,
          legalActorId.map((a) => `${a}-${randomUUID()}`),
        ),
        { seed: SEED, numRuns: 1 },
      );
      const body = new TextEncoder().encode(toJson(valid!));
      const message = expectRefused(await send(endpoint, SUBJECTS[endpoint], new Uint8Array([...bom, ...body])), endpoint);
      expect(message, endpoint).toContain("byte order mark");
    }
  });

  describe("nesting and size at the extremes", () => {
    const depth = (n: number, open: string, close: string, leaf = "1") => open.repeat(n) + leaf + close.repeat(n);

    it.each([
      ["100,000 nested arrays", () => depth(100_000, "[", "]")],
      ["100,000 nested objects", () => depth(100_000, '{"a":', "}")],
      [
        "100,000 nested objects in data",
        () => `{"id":"x","eventType":"T","actorId":"order-1","version":1,"data":${depth(100_000, '{"a":', "}")}}`,
      ],
      [
        "100,000 nested arrays in an event of a batch",
        () =>
          `{"actorId":"order-1","events":[{"id":"x","eventType":"T","actorId":"order-1","version":1,"data":{"a":${depth(100_000, "[", "]")}}}]}`,
      ],
      ["500,000 nested arrays (1 MB, under the request limit)", () => depth(500_000, "[", "]", "")],
    ])("%s: refused on every endpoint", async (_name, body) => {
      const text = body();
      for (const endpoint of ENDPOINTS) {
        const message = expectRefused(await send(endpoint, SUBJECTS[endpoint], text), endpoint);
        expect(message).toMatch(/nests deeper than 64 levels/);
      }
    });

    it("refuses bodies from the request limit up to max_payload as too large", async () => {
      const sizes = [maxRequestBytes + 1, maxRequestBytes + 2048, maxPayload - 1, maxPayload];
      for (const size of sizes) {
        // a valid save padded in data: only its size is wrong
        const head = `{"id":"${randomUUID()}","eventType":"T","actorId":"order-big","version":1,"data":{"pad":"`;
        const text = head + "x".repeat(size - head.length - 3) + '"}}';
        expect(Buffer.byteLength(text)).toBe(size);
        for (const endpoint of ENDPOINTS) {
          const message = expectRefused(await send(endpoint, SUBJECTS[endpoint], text), `${size} bytes`);
          expect(message).toContain("too large");
        }
      }
    });

    it("never sees a body above max_payload: the client refuses to send it, the server drops a raw one", async () => {
      await expect(nc.request(SUBJECTS.save, new Uint8Array(maxPayload + 1), { timeout: 2000 })).rejects.toThrow();
      const serverSays = await rawPublish(server.port, SUBJECTS.save, maxPayload + 1);
      expect(serverSays).toMatch(/-ERR 'Maximum Payload Violation'/);
      const r = await send("after a raw oversized publish", SUBJECTS.version, JSON.stringify({ actorId: "order-1" }));
      expect(r.code).toBe(0);
    });
  });

  it("stored nothing, kept the service up, and logged no failure of its own", async () => {
    expect(await streamCounts()).toEqual(before);
    expect(service.process.exitCode).toBeNull();
    const failures = service.logs.filter((l) => l.msg === "request failed" || (typeof l.level === "number" && l.level >= 50));
    expect(failures).toEqual([]);
    const total = ENDPOINTS.reduce((n, e) => n + tally[e]!.sent, 0);
    expect(total).toBeGreaterThanOrEqual(runs(2200) * ENDPOINTS.length);
  });
});

describe("legal requests that look hostile are accepted", () => {
  const params = (numRuns: number) => ({ seed: SEED, numRuns: runs(numRuns), endOnFailure: true });

  it("saves with odd ids, unicode, big numbers and keys like constructor, read back as JSON.parse sees them", async () => {
    await fc.assert(
      fc.asyncProperty(
        validRequest(
          "save",
          legalActorId.map((a) => `${a}-${randomUUID()}`),
        ),
        async (event) => {
          const text = toJson(event);
          const sent = JSON.parse(text) as { actorId: string; data: unknown; tags?: string[] };
          const saved = await send("legal save", SUBJECTS.save, text);
          expect(saved.code, `${text.slice(0, 300)} -> ${JSON.stringify(saved.body)}`).toBe(0);
          const read = await send("legal events", SUBJECTS.events, JSON.stringify({ actorId: sent.actorId }));
          const [stored] = read.body.events as { data: unknown; tags?: string[] }[];
          expect(JSON.stringify(stored!.data)).toBe(JSON.stringify(sent.data));
          expect(stored!.tags).toEqual(sent.tags);
        },
      ),
      params(300),
    );
  });

  it("appends, transacts (tags and conditions too) and reads with the same kinds of values", async () => {
    const freshActor = legalActorId.map((a) => `${a}-${randomUUID()}`);
    await fc.assert(
      fc.asyncProperty(
        validRequest("append", freshActor),
        validRequest("transact", freshActor),
        validRequest("read"),
        validRequest("events"),
        validRequest("version"),
        validRequest("snapshot_get"),
        async (append, transact, read, events, version, snapshotGet) => {
          const appended = await send("legal append", SUBJECTS.append, toJson(append));
          expect(appended.code, JSON.stringify(appended.body)).toBe(0);
          const transacted = await send("legal transact", SUBJECTS.transact, toJson(transact));
          expect(transacted.code, JSON.stringify(transacted.body)).toBe(0);
          const readReply = await send("legal read", SUBJECTS.read, toJson(read));
          expect(readReply.code, JSON.stringify(readReply.body).slice(0, 300)).toBe(0);
          expect((await send("legal events", SUBJECTS.events, toJson(events))).code).toBe(0);
          expect((await send("legal version", SUBJECTS.version, toJson(version))).code).toBe(0);
          expect([0, 404]).toContain((await send("legal snapshot_get", SUBJECTS.snapshot_get, toJson(snapshotGet))).code);
        },
      ),
      params(100),
    );
  });

  it("answers $SRV requests with no body", async () => {
    for (const verb of ["PING", "INFO", "STATS"]) {
      const msg = await nc.request(`$SRV.${verb}.eventstore`, Empty, { timeout: REPLY_TIMEOUT_MS });
      expect(msg.json<{ name: string }>().name).toBe("eventstore");
    }
  });
});

/** Announces a publish of size bytes over a bare TCP connection and returns what the server said. */
function rawPublish(port: number, subject: string, size: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    let said = "";
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer; got ${said}`));
    }, 5000);
    // The server judges the size on the PUB line and closes the connection: the body never follows.
    socket.once("data", () => socket.write(`CONNECT {"verbose":false,"pedantic":false}\r\nPUB ${subject} _INBOX.raw ${size}\r\n`));
    socket.on("data", (d: Buffer) => (said += d.toString()));
    socket.on("error", () => undefined);
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(said);
    });
  });
}
