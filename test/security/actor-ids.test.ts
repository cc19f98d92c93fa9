import { randomUUID } from "node:crypto";
import { type JetStreamManager, jetstreamManager, type StoredMsg } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { unescapeToken } from "../../src/contract/subjects.js";
import { MAX_ACTOR_SUBJECT_CHARS } from "../../src/server/service/validation.js";
import { messageId } from "../../src/server/store/encode.js";
import { type NatsServer, startNatsServer } from "../harness/nats-server.js";
import { request } from "../harness/requests.js";
import { type ServiceProcess, startServiceProcess } from "../harness/service-process.js";

// Actor ids, event types and event ids that would break subjects or headers: each is either stored
// under its own injective subject and read back intact, or refused with 400; never written to
// another actor's subject. The service runs with the longest stream name and inbox prefix the
// configuration accepts, so that its protocol lines are as long as they can be.

const STREAM = "S".repeat(32);
let server: NatsServer;
let service: ServiceProcess;
let nc: NatsConnection;
let jsm: JetStreamManager;

beforeAll(async () => {
  server = await startNatsServer();
  service = await startServiceProcess(server.url, { EVENTSTORE_STREAM: STREAM, NATS_INBOX_PREFIX: "I".repeat(64) });
  nc = await connect({ servers: server.url });
  jsm = await jetstreamManager(nc);
});

afterAll(async () => {
  await nc?.close();
  await service?.stop();
  await server?.stop();
});

const event = (actorId: string, version = 1, extra: Record<string, unknown> = {}) => ({
  id: randomUUID(),
  eventType: "T",
  actorId,
  version,
  data: { owner: actorId },
  ...extra,
});

const messages = async () => (await jsm.streams.info(STREAM)).state.messages;

async function stored(seq: number): Promise<StoredMsg> {
  const msg = await jsm.streams.getMessage(STREAM, { seq });
  if (!msg) throw new Error(`no message at sequence ${seq}`);
  return msg;
}

const emoji = (n: number) => "\u{1F600}".repeat(n);

// One actor per kind of trouble; each differs from "order-1" by one character or by its escape.
const LEGAL_ACTOR_IDS = [
  "order-1",
  "order-1.x",
  "order.1",
  "order-1.>",
  "order-1.*",
  "order-*",
  "order->",
  ">",
  "*",
  ".",
  "order-1 ",
  " order-1",
  "order 1",
  "order-1~2e",
  "order-1~",
  "~",
  "order~2d1",
  "order--1",
  "-order-1",
  "ORDER-1",
  "order-1\u00a0",
  "order-1\u200b",
  "order-1\u2028",
  "order-1\u0085",
  "order-1\ufeff",
  "\u8ba2\u5355-1",
  "e\u0301",
  "\u00e9",
  `${STREAM}.events.order.order-1`,
  "$JS.API.STREAM.DELETE.x",
  "_INBOX.x",
  emoji(1),
  "\u8ba2".repeat(256),
  emoji(256),
  // the longest escape accepted: 24 * 100 + 12 * 98 + 2 = 3578 characters of subject
  `${emoji(100)}-${emoji(98)}`,
];

describe("actor ids that are legal but hostile to subjects", () => {
  it("are each stored on a subject of their own, whose token unescapes to them, and read back alone", async () => {
    const subjects = new Map<string, string>();
    for (const actorId of LEGAL_ACTOR_IDS) {
      const saved = await request(nc, "eventstore.save", event(actorId));
      expect(saved, JSON.stringify(actorId)).toMatchObject({ code: 0, body: { actorId, version: 1 } });
      const { subject } = await stored(saved.body.sequence as number);
      const tokens = subject.split(".");
      expect(tokens.slice(0, 2)).toEqual([STREAM, "events"]);
      expect(tokens).toHaveLength(4);
      for (const t of tokens) expect(t).toMatch(/^[A-Za-z0-9_~-]+$/);
      expect(unescapeToken(tokens[3]!)).toBe(actorId);
      subjects.set(actorId, subject);
    }
    expect(new Set(subjects.values()).size).toBe(LEGAL_ACTOR_IDS.length);

    for (const actorId of LEGAL_ACTOR_IDS) {
      const read = await request(nc, "eventstore.events", { actorId });
      expect(read.code).toBe(0);
      expect(read.body.events).toEqual([expect.objectContaining({ actorId, version: 1, data: { owner: actorId } })]);
      expect(await request(nc, "eventstore.version", { actorId })).toMatchObject({ code: 0, body: { version: 1 } });
    }
  });

  it("carry snapshots on the longest subject the service sends, within the server's control line", async () => {
    const actorId = `${emoji(100)}-${emoji(98)}`;
    expect(await request(nc, "eventstore.snapshot.save", { actorId, version: 1, state: { at: 1 } })).toMatchObject({ code: 0 });
    expect(await request(nc, "eventstore.snapshot.get", { actorId })).toMatchObject({ code: 0, body: { actorId, state: { at: 1 } } });
    expect(service.logs.filter((l) => l.msg === "NATS connection")).toEqual([]);
  });
});

describe("actor ids the service refuses with 400", () => {
  const cases: [string, string, RegExp][] = [
    ["CR", "order-1\r", /\/actorId/],
    ["LF", "order-1\n", /\/actorId/],
    ["CR LF and a protocol line", "order-1\r\nPUB EVENTS.events.order.order-1 2\r\n{}", /\/actorId/],
    ["NUL", "order-1\u0000", /\/actorId/],
    ["tab", "order-1\t", /\/actorId/],
    ["DEL", "order-1\u007f", /\/actorId/],
    ["ESC", "\u001b[31morder-1", /\/actorId/],
    ["the empty string", "", /\/actorId/],
    ["257 characters", "a".repeat(257), /\/actorId/],
    ["an escape just past the subject limit", `${emoji(100)}-${emoji(99)}`, /too long for a subject/],
    ["an escape far past it", `${emoji(128)}-${emoji(127)}`, /too long for a subject/],
  ];

  it.each(cases)("%s", async (_name, actorId, says) => {
    const before = await messages();
    for (const [subject, body] of [
      ["eventstore.save", event(actorId)],
      ["eventstore.append", { actorId, events: [event(actorId)] }],
      ["eventstore.events", { actorId }],
      ["eventstore.version", { actorId }],
      ["eventstore.snapshot.save", { actorId, version: 1, state: {} }],
      ["eventstore.snapshot.get", { actorId }],
    ] as const) {
      const r = await request(nc, subject, body);
      expect(r.code, subject).toBe(400);
      expect(String((r.body.error as { message: string }).message)).toMatch(says);
    }
    expect(await messages()).toBe(before);
  });

  it("a lone surrogate, which would share U+FFFD's escape with every other one", async () => {
    const before = await messages();
    for (const surrogate of ["\\ud800", "\\udfff", "\\udbff"]) {
      const body = `{"id":"${randomUUID()}","eventType":"T","actorId":"order-${surrogate}","version":1,"data":{}}`;
      const r = await request(nc, "eventstore.save", body);
      expect(r.code).toBe(400);
      expect(r.body).toMatchObject({ error: { message: expect.stringContaining("lone surrogate") } });
    }
    expect(await messages()).toBe(before);
  });

  it("and stays connected: a refused id never reaches the server as a subject", async () => {
    expect(MAX_ACTOR_SUBJECT_CHARS).toBeLessThan(4096);
    expect(service.logs.filter((l) => l.msg === "NATS connection" || l.msg === "NATS connection error")).toEqual([]);
    expect(service.process.exitCode).toBeNull();
  });
});

describe("event types and event ids that would break subjects or headers", () => {
  it("event types with dots, wildcards, spaces and unicode are stored as they are", async () => {
    const actorId = `order-${randomUUID()}`;
    const types = ["Order.Placed", "Order.*", "Order.>", "Order Placed", "\u8ba2\u5355", "$SRV.PING", "a:b"];
    for (const [i, eventType] of types.entries()) {
      expect(await request(nc, "eventstore.save", event(actorId, i + 1, { eventType }))).toMatchObject({ code: 0 });
    }
    const read = await request(nc, "eventstore.events", { actorId });
    expect((read.body.events as { eventType: string }[]).map((e) => e.eventType)).toEqual(types);
  });

  it("event types with CR, LF or NUL are refused", async () => {
    const before = await messages();
    for (const eventType of ["a\r\nb", "a\nb", "a\u0000b"]) {
      const r = await request(nc, "eventstore.save", event(`order-${randomUUID()}`, 1, { eventType }));
      expect(r.code).toBe(400);
      expect(r.errorHeader).toContain("/eventType");
    }
    expect(await messages()).toBe(before);
  });

  it("event ids with spaces, colons and unicode work, and so does their idempotency", async () => {
    for (const id of ["id with spaces", "Nats-Msg-Id: x", "\u8ba2\u5355-\u{1F600}", "a;b,c=d"]) {
      const e = event(`order-${randomUUID()}`, 1, { id });
      const first = await request(nc, "eventstore.save", e);
      expect(first).toMatchObject({ code: 0, body: { duplicate: false } });
      expect(await request(nc, "eventstore.save", e)).toMatchObject({ code: 0, body: { duplicate: true, sequence: first.body.sequence } });
      const msg = await stored(first.body.sequence as number);
      expect(msg.json<{ id: string }>().id).toBe(id);
      expect(msg.header.get("Nats-Msg-Id")).toBe(messageId(e.actorId, 1, id));
    }
  });

  it("event ids with CR, LF or NUL are refused before they become a header", async () => {
    const before = await messages();
    for (const id of ["a\r\nNats-Expected-Last-Subject-Sequence: 0", "a\u0000"]) {
      const r = await request(nc, "eventstore.save", event(`order-${randomUUID()}`, 1, { id }));
      expect(r.code).toBe(400);
      expect(r.errorHeader).toContain("/id");
    }
    expect(await messages()).toBe(before);
  });

  it("a key given twice is refused: the request is stored as sent, and JSON readers disagree on which one counts", async () => {
    const victim = `order-${randomUUID()}`;
    const writer = `order-${randomUUID()}`;
    const before = await messages();
    for (const body of [
      `{"id":"${randomUUID()}","eventType":"T","actorId":"${victim}","actorId":"${writer}","version":1,"data":{}}`,
      `{"id":"${randomUUID()}","eventType":"T","actorId":"${writer}","version":1,"data":{"a":{"b":1,"b":2}}}`,
      `{"id":"${randomUUID()}","eventType":"T","actorId":"${writer}","version":1,"data":{"x\\u0061":1,"xa":2}}`,
    ]) {
      const saved = await request(nc, "eventstore.save", body);
      expect(saved.code).toBe(400);
      expect(saved.errorHeader).toContain("key twice");
    }
    expect(await messages()).toBe(before);
    const colons = `{"id":"${randomUUID()}","eventType":"T","actorId":"${writer}","version":1,"data":{"k":"a\\":b","l":[":",{"m":":"}]}}`;
    expect((await request(nc, "eventstore.save", colons)).code).toBe(0);
  });
});
