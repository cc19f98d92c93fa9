import { randomUUID } from "node:crypto";
import { jetstreamManager } from "@nats-io/jetstream";
import { type ServiceInfo, Svcm } from "@nats-io/services";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type NatsServer, startNatsServer } from "../harness/nats-server.js";
import { request } from "../harness/requests.js";
import { runServiceToExit, type ServiceProcess, startServiceProcess } from "../harness/service-process.js";

// Replicas share the endpoint subjects: one with other settings would answer the same request
// differently, or change the stream under the others. It must refuse to start and say why.

describe("a replica that disagrees with those already serving", () => {
  let server: NatsServer;
  let first: ServiceProcess;
  let nc: NatsConnection;

  beforeAll(async () => {
    server = await startNatsServer();
    first = await startServiceProcess(server.url);
    nc = await connect({ servers: server.url });
  });
  afterAll(async () => {
    await nc?.close();
    await first?.stop();
    await server?.stop();
  });

  it("finds the settings that change answers in $SRV.INFO, as strings", async () => {
    const infos: ServiceInfo[] = [];
    for await (const info of await new Svcm(nc).client().info("eventstore")) infos.push(info);
    expect(infos).toHaveLength(1);
    expect(infos[0]!.metadata).toMatchObject({
      stream: "EVENTS",
      snapshots_stream: "EVENTS_SNAPSHOTS",
      queue: "q",
      backend: "jetstream",
      replicas: "1",
      snapshots_keep: "3",
      max_request_bytes: String(1024 * 1024 - 4096),
      max_depth: "64",
      max_read_events: "10000",
    });
  });

  it.each<[Record<string, string>, string]>([
    [{ EVENTSTORE_STREAM: "ORDERS" }, "stream is EVENTS there, ORDERS here"],
    [{ EVENTSTORE_QUEUE: "other" }, "queue is q there, other here"],
    [{ EVENTSTORE_SNAPSHOTS_KEEP: "1" }, "snapshots_keep is 3 there, 1 here"],
    [{ EVENTSTORE_MAX_REQUEST_BYTES: "65536" }, "max_request_bytes is 1044480 there, 65536 here"],
    [{ EVENTSTORE_MAX_DEPTH: "10" }, "max_depth is 64 there, 10 here"],
    [{ EVENTSTORE_BACKEND: "memory" }, "backend is jetstream there, memory here"],
  ])("%o refuses to start, and changes nothing", async (env, says) => {
    const jsm = await jetstreamManager(nc);
    const before = (await jsm.streams.info("EVENTS_SNAPSHOTS")).config.max_msgs_per_subject;
    const { code, output } = await runServiceToExit({ NATS_URL: server.url, ...env });
    expect(code, output).toBe(1);
    expect(output).toContain("replicas already serving disagree");
    expect(output).toContain(says);
    expect(output).toContain("eventstore could not start");
    expect((await jsm.streams.info("EVENTS_SNAPSHOTS")).config.max_msgs_per_subject).toBe(before);
    await expect(jsm.streams.info("ORDERS")).rejects.toThrow();
  });

  it("one that agrees joins, and both answer alike", async () => {
    const second = await startServiceProcess(server.url);
    try {
      const actorId = `order-${randomUUID()}`;
      for (let version = 1; version <= 20; version++) {
        const r = await request(nc, "eventstore.save", { id: randomUUID(), eventType: "T", actorId, version, data: {} });
        expect(r.body).toMatchObject({ version, duplicate: false });
      }
      for (let i = 0; i < 10; i++) expect((await request(nc, "eventstore.version", { actorId })).body.version).toBe(20);
      expect(second.logs.some((l) => l.msg === "replicas already serving agree" && l.replicas === 1)).toBe(true);
    } finally {
      await second.stop();
    }
  });
});

describe("a replica alone never lowers what the stream keeps", () => {
  let server: NatsServer;
  let nc: NatsConnection;

  beforeAll(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
    const service = await startServiceProcess(server.url);
    await service.stop();
  });
  afterAll(async () => {
    await nc?.close();
    await server?.stop();
  });

  it("refuses a lower snapshot bound, and applies it with EVENTSTORE_RECONFIGURE=1", async () => {
    const jsm = await jetstreamManager(nc);
    const refused = await runServiceToExit({ NATS_URL: server.url, EVENTSTORE_SNAPSHOTS_KEEP: "1" });
    expect(refused.code, refused.output).toBe(1);
    expect(refused.output).toContain("snapshots kept per actor from 3 to 1");
    expect(refused.output).toContain("EVENTSTORE_RECONFIGURE=1");
    expect((await jsm.streams.info("EVENTS_SNAPSHOTS")).config.max_msgs_per_subject).toBe(3);

    const reconfigured = await startServiceProcess(server.url, { EVENTSTORE_SNAPSHOTS_KEEP: "1", EVENTSTORE_RECONFIGURE: "1" });
    try {
      expect((await jsm.streams.info("EVENTS_SNAPSHOTS")).config.max_msgs_per_subject).toBe(1);
      expect(reconfigured.logs.some((l) => l.msg === "stream updated" && l.level === 40)).toBe(true);
    } finally {
      await reconfigured.stop();
    }
  });

  it("raises the snapshot bound without being told: nothing is lost", async () => {
    const service = await startServiceProcess(server.url, { EVENTSTORE_SNAPSHOTS_KEEP: "5" });
    await service.stop();
    expect((await (await jetstreamManager(nc)).streams.info("EVENTS_SNAPSHOTS")).config.max_msgs_per_subject).toBe(5);
  });
});

describe("the settings that guard the streams", () => {
  it.each<[Record<string, string>, string]>([
    [{ EVENTSTORE_RECONFIGURE: "yes" }, 'EVENTSTORE_RECONFIGURE must be 0 or 1, got "yes"'],
    [{ NATS_JETSTREAM_USER: "js" }, "NATS_JETSTREAM_USER and NATS_JETSTREAM_PASSWORD go together"],
  ])("%o is a configuration error", async (env, says) => {
    const { code, output } = await runServiceToExit({ NATS_URL: "nats://127.0.0.1:1", ...env });
    expect(code).toBe(1);
    expect(output).toContain(says);
  });
});
