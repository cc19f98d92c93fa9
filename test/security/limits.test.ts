import { randomUUID } from "node:crypto";
import { connect, Empty, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/server/config.js";
import { type NatsServer, startNatsServer } from "../harness/nats-server.js";
import { request } from "../harness/requests.js";
import { type ServiceProcess, startServiceProcess } from "../harness/service-process.js";

// The limits that protect the process are configurable: request size, nesting depth and events
// per read. Each is checked against a running service set lower than its default.

describe("limit settings", () => {
  it("default to max_payload less headroom, depth 64, 10,000 events per read, 10 s to connect, _INBOX", () => {
    expect(loadConfig({})).toMatchObject({
      maxRequestBytes: undefined,
      maxDepth: 64,
      maxReadEvents: 10_000,
      connectTimeoutMs: 10_000,
      inboxPrefix: "_INBOX",
    });
  });

  it("read their variables", () => {
    expect(
      loadConfig({
        EVENTSTORE_MAX_REQUEST_BYTES: "65536",
        EVENTSTORE_MAX_DEPTH: "8",
        EVENTSTORE_MAX_READ_EVENTS: "100",
        NATS_CONNECT_TIMEOUT_MS: "2500",
        NATS_INBOX_PREFIX: "_INBOX_eventstore.replica-1",
      }),
    ).toMatchObject({
      maxRequestBytes: 65536,
      maxDepth: 8,
      maxReadEvents: 100,
      connectTimeoutMs: 2500,
      inboxPrefix: "_INBOX_eventstore.replica-1",
    });
  });

  it.each([
    [{ EVENTSTORE_MAX_REQUEST_BYTES: "1000" }, "EVENTSTORE_MAX_REQUEST_BYTES"],
    [{ EVENTSTORE_MAX_REQUEST_BYTES: "1MB" }, "EVENTSTORE_MAX_REQUEST_BYTES"],
    [{ EVENTSTORE_MAX_READ_EVENTS: "0" }, "EVENTSTORE_MAX_READ_EVENTS"],
    [{ EVENTSTORE_MAX_READ_EVENTS: "10001" }, "EVENTSTORE_MAX_READ_EVENTS"],
    [{ EVENTSTORE_MAX_DEPTH: "1" }, "EVENTSTORE_MAX_DEPTH"],
    [{ NATS_CONNECT_TIMEOUT_MS: "0" }, "NATS_CONNECT_TIMEOUT_MS"],
    [{ NATS_INBOX_PREFIX: "_INBOX.>" }, "NATS_INBOX_PREFIX"],
    [{ NATS_INBOX_PREFIX: "a..b" }, "NATS_INBOX_PREFIX"],
    [{ NATS_INBOX_PREFIX: "in box" }, "NATS_INBOX_PREFIX"],
  ])("refuse %o with a message naming the variable", (env, name) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(name);
  });
});

describe("a service with lowered limits", () => {
  let server: NatsServer;
  let service: ServiceProcess;
  let nc: NatsConnection;

  beforeAll(async () => {
    server = await startNatsServer();
    service = await startServiceProcess(server.url, {
      EVENTSTORE_MAX_REQUEST_BYTES: "4096",
      EVENTSTORE_MAX_DEPTH: "4",
      EVENTSTORE_MAX_READ_EVENTS: "3",
    });
    nc = await connect({ servers: server.url });
  });

  afterAll(async () => {
    await nc?.close();
    await service?.stop();
    await server?.stop();
  });

  const save = (actorId: string, version: number, data: unknown = {}) =>
    request(nc, "eventstore.save", { id: randomUUID(), eventType: "T", actorId, version, data });

  it("refuses a request over EVENTSTORE_MAX_REQUEST_BYTES and says so in $SRV INFO", async () => {
    const actorId = `order-${randomUUID()}`;
    const over = await save(actorId, 1, { pad: "x".repeat(4096) });
    expect(over).toMatchObject({ code: 400, body: { error: { message: expect.stringContaining("at most 4096") } } });
    expect(await save(actorId, 1, { pad: "x".repeat(3000) })).toMatchObject({ code: 0 });
    const info = (await nc.request("$SRV.INFO.eventstore", Empty)).json<{ metadata: Record<string, string> }>();
    expect(info.metadata.max_request_bytes).toBe("4096");
  });

  it("refuses nesting deeper than EVENTSTORE_MAX_DEPTH and accepts it at the limit", async () => {
    const actorId = `order-${randomUUID()}`;
    // the request object is level 0, data level 1: three more objects reach level 4
    const deep = await save(actorId, 1, { a: { b: { c: { d: 1 } } } });
    expect(deep).toMatchObject({ code: 400, body: { error: { message: expect.stringContaining("deeper than 4") } } });
    expect(await save(actorId, 1, { a: { b: { c: 1 } } })).toMatchObject({ code: 0 });
  });

  it("returns at most EVENTSTORE_MAX_READ_EVENTS per read, whatever limit asks, and says hasMore", async () => {
    const actorId = `order-${randomUUID()}`;
    for (let v = 1; v <= 5; v++) expect((await save(actorId, v)).code).toBe(0);
    for (const ask of [{}, { limit: 10 }, { limit: 10_000 }]) {
      const page = await request(nc, "eventstore.events", { actorId, ...ask });
      expect(page.body).toMatchObject({ hasMore: true });
      expect((page.body.events as { version: number }[]).map((e) => e.version)).toEqual([1, 2, 3]);
    }
    const small = await request(nc, "eventstore.events", { actorId, limit: 2 });
    expect((small.body.events as unknown[]).length).toBe(2);
    const rest = await request(nc, "eventstore.events", { actorId, fromVersion: 3 });
    expect(rest.body).toMatchObject({ hasMore: false, events: [{ version: 4 }, { version: 5 }] });
  });
});
