import { randomUUID } from "node:crypto";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EventStoreClient } from "../../src/client/client.js";
import type { RetryInfo } from "../../src/client/retry.js";
import { UnavailableError } from "../../src/contract/errors.js";
import { Subjects } from "../../src/contract/subjects.js";
import { ensureStreams } from "../../src/server.js";
import { event as anEvent } from "../harness/events.js";
import { type NatsServer, startNatsServer } from "../harness/nats-server.js";
import { type ServiceProcess, startServiceProcess } from "../harness/service-process.js";

const event = (actorId: string, version: number) => anEvent(actorId, version, { eventType: "Deposited", data: { amount: version } });

async function storedIds(client: EventStoreClient, actorId: string): Promise<string[]> {
  const ids: string[] = [];
  for await (const e of client.events(actorId)) ids.push(e.id);
  return ids;
}

describe("with a service running", () => {
  let server: NatsServer;
  let service: ServiceProcess;
  let nc: NatsConnection;

  beforeAll(async () => {
    server = await startNatsServer();
    service = await startServiceProcess(server.url);
    nc = await connect({ servers: server.url });
  });

  afterAll(async () => {
    await nc?.close();
    await service?.stop();
    await server?.stop();
  });

  it("a retry of a save whose reply was lost comes back as a duplicate, and the event is stored once", async () => {
    // The mechanism: the service process is frozen (SIGSTOP) before the save, so the first attempt
    // waits, unread, in its socket, and times out at the client. The client's retry hook thaws the
    // process (SIGCONT): it reads the first attempt, stores the event and replies to a requester that
    // has stopped listening: that reply is lost. The retry comes a backoff later and finds the event
    // already stored under its id. Even if both attempts reached the service together, it reads them
    // in order on one connection, so the first attempt is the one that stores.
    const actorId = `account-${randomUUID()}`;
    const e = event(actorId, 1);
    const retries: RetryInfo[] = [];
    const client = new EventStoreClient(nc, {
      timeoutMs: 500,
      retry: {
        attempts: 5,
        initialDelayMs: 1000,
        maxDelayMs: 1000,
        onRetry: (info) => {
          retries.push(info);
          service.process.kill("SIGCONT");
        },
      },
    });
    service.process.kill("SIGSTOP");
    try {
      const reply = await client.save(e);
      // On a busy machine the thawed service may miss a later attempt's timeout too; the first is the lost reply.
      expect(retries.length).toBeGreaterThanOrEqual(1);
      expect(retries[0]!.attempt).toBe(1);
      expect(retries[0]!.error).toBeInstanceOf(UnavailableError);
      expect(retries[0]!.error.message).toContain("no reply within 500 ms");
      expect(reply).toMatchObject({ actorId, version: 1, duplicate: true });
    } finally {
      service.process.kill("SIGCONT");
    }
    expect(await storedIds(new EventStoreClient(nc), actorId)).toEqual([e.id]);
  });

  it("a 503 (JetStream lost its stream) is retried with the same event until JetStream is back", async () => {
    const jsm = await jetstreamManager(nc);
    const subjects = new Subjects("EVENTS");
    await jsm.streams.delete("EVENTS");
    const retries: RetryInfo[] = [];
    let recreated: Promise<void> | undefined;
    const client = new EventStoreClient(nc, {
      retry: {
        attempts: 20,
        initialDelayMs: 100,
        maxDelayMs: 200,
        onRetry: (info) => {
          retries.push(info);
          recreated ??= ensureStreams(jsm, { subjects, replicas: 1, snapshotsKeep: 3, atomicBatch: true }, pino({ level: "silent" }));
        },
      },
    });
    const actorId = `account-${randomUUID()}`;
    const e = event(actorId, 1);
    const reply = await client.save(e);
    await recreated;
    expect(retries.length).toBeGreaterThanOrEqual(1);
    expect(retries[0]!.error).toBeInstanceOf(UnavailableError);
    expect(retries[0]!.error.code).toBe(503);
    expect(reply).toMatchObject({ actorId, version: 1, duplicate: false });
    expect(await storedIds(client, actorId)).toEqual([e.id]);
  });
});

describe("without a service", () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let late: ServiceProcess | undefined;

  beforeAll(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
  });

  afterAll(async () => {
    await nc?.close();
    await late?.stop();
    await server?.stop();
  });

  it("gives up after the configured attempts with an UnavailableError", async () => {
    const retries: RetryInfo[] = [];
    const client = new EventStoreClient(nc, {
      retry: { attempts: 3, initialDelayMs: 10, maxDelayMs: 20, onRetry: (info) => retries.push(info) },
    });
    const err = await client.version("account-1").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnavailableError);
    expect((err as Error).message).toContain("no responders");
    expect((err as Error).message).toContain("attempt 3 of 3");
    expect(retries.map((r) => r.attempt)).toEqual([1, 2]);
    expect(retries.every((r) => r.endpoint === "version")).toBe(true);
  });

  it("retries no responders until a service comes up", async () => {
    const retries: RetryInfo[] = [];
    let firstRetry!: () => void;
    const retrying = new Promise<void>((resolve) => (firstRetry = resolve));
    const client = new EventStoreClient(nc, {
      retry: {
        attempts: 100,
        initialDelayMs: 50,
        maxDelayMs: 200,
        onRetry: (info) => {
          retries.push(info);
          firstRetry();
        },
      },
    });
    const actorId = `account-${randomUUID()}`;
    const saving = client.save(event(actorId, 1));
    await retrying;
    late = await startServiceProcess(server.url);
    expect(await saving).toMatchObject({ actorId, version: 1, duplicate: false });
    expect(retries[0]!.error.message).toContain("no responders");
  });
});
