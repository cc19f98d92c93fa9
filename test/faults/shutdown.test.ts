import { randomUUID } from "node:crypto";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type NatsServer, startNatsServer } from "../harness/nats-server.js";
import { stopProcess } from "../harness/processes.js";
import { type ServiceProcess, startServiceProcess } from "../harness/service-process.js";
import { audit, lastSequence, readStoredEvents } from "../harness/stored-events.js";
import { WriterLoad } from "../harness/writer-load.js";

// The service bounds its own shutdown by 2 x EVENTSTORE_JS_TIMEOUT_MS + 2 s and exits 1 past it;
// the harness SIGKILLs a little later, so either way a shutdown over the bound fails the test.
const JS_TIMEOUT_MS = 2000;
const SHUTDOWN_BOUND_MS = 2 * JS_TIMEOUT_MS + 2000;
const SERVICE_ENV = { EVENTSTORE_JS_TIMEOUT_MS: String(JS_TIMEOUT_MS), EVENTSTORE_STREAM: "SHUTDOWN" };

let server: NatsServer;
let services: ServiceProcess[] = [];
let nc: NatsConnection;

beforeAll(async () => {
  server = await startNatsServer();
  services = [await startServiceProcess(server.url, SERVICE_ENV), await startServiceProcess(server.url, SERVICE_ENV)];
  nc = await connect({ servers: server.url });
});

afterAll(async () => {
  await nc?.close();
  await Promise.all(services.map((s) => s.kill()));
  await server?.stop();
});

it(`answers every request it took when SIGTERMed under load, and exits 0 within ${SHUTDOWN_BOUND_MS} ms`, async () => {
  const [leaving, staying] = services as [ServiceProcess, ServiceProcess];
  const actors = Array.from({ length: 32 }, () => `order-${randomUUID()}`);
  // A reply the leaving replica dropped would time out here and be retried: the load counts that.
  const load = new WriterLoad(nc, { actors, writersPerActor: 1, timeoutMs: 10_000 }).start();
  let code: number | null;
  const started = Date.now();
  let stoppedAfterMs: number;
  try {
    await load.acknowledged(500);
    const sigterm = Date.now();
    code = await stopProcess(leaving.process, "SIGTERM", SHUTDOWN_BOUND_MS + 1000);
    stoppedAfterMs = Date.now() - sigterm;
    await load.acknowledged(500);
  } finally {
    await load.stop();
  }

  const stoppedLines = leaving.logs.filter((l) => l.msg === "stopped").length;
  console.log(JSON.stringify({ acknowledged: load.acks.length, loadMs: Date.now() - started, sigtermToExitMs: stoppedAfterMs }));
  expect(code).toBe(0);
  expect(stoppedLines).toBe(1);
  expect(load.retries).toBe(0);
  expect(staying.process.exitCode).toBeNull();
  const stored = await readStoredEvents(nc, "SHUTDOWN", await lastSequence(nc, "SHUTDOWN"));
  expect(audit(load.acks, stored)).toMatchObject({ lost: [], duplicated: [], unacknowledged: [], outOfOrder: [] });
});
