import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { expect, it, onTestFailed } from "vitest";
import { type NatsServer, startNatsServer } from "../harness/nats-server.js";
import { request } from "../harness/requests.js";
import { startServiceProcess } from "../harness/service-process.js";
import { audit, lastSequence, readStoredEvents } from "../harness/stored-events.js";
import { WriterLoad } from "../harness/writer-load.js";

const SERVICE_ENV = { EVENTSTORE_JS_TIMEOUT_MS: "1000" };

/** Waits until the service has logged `count` reconnections. */
async function reconnected(logs: Record<string, unknown>[], count: number): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (logs.filter((l) => l.status === "reconnect").length < count) {
    if (Date.now() > deadline) throw new Error(`the service did not reconnect ${count} time(s) within 20s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function untilConnected<T>(send: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await send();
    } catch (err) {
      // A request written to the old socket before the client noticed it was gone is lost: it times out.
      if (attempt >= 10 || !/disconnected|timeout/i.test(String(err))) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

it("rides out nats-server being killed and restarted: reconnects, answers 503 while JetStream is away, serves after", async () => {
  const dir = mkdtempSync(join(tmpdir(), "es-restart-"));
  const durable = `jetstream { store_dir: ${JSON.stringify(join(dir, "js"))}, sync_interval: always }`;
  let server: NatsServer = await startNatsServer({ dir, jetstream: false, config: durable });
  const service = await startServiceProcess(server.url, SERVICE_ENV);
  const nc = await connect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  const actors = Array.from({ length: 10 }, () => `order-${randomUUID()}`);
  const load = new WriterLoad(nc, { actors, writersPerActor: 1, timeoutMs: 2000 }).start();
  const started = Date.now();
  const phases: Record<string, number> = {};
  const reached = (phase: string) => (phases[phase] = Date.now() - started);
  onTestFailed(() => {
    console.log(JSON.stringify({ phases, acknowledged: load.acks.length, retries: load.retries }));
    const failed = service.logs.filter((l) => l.msg === "request failed");
    console.log(JSON.stringify({ requestsFailed: failed.length, last: failed.at(-1) }));
    for (const l of service.logs.filter((l) => l.msg !== "request failed")) console.log(JSON.stringify(l));
  });
  try {
    await load.acknowledged(200);
    reached("killed");
    await server.halt("SIGKILL");

    // The same server comes back without JetStream: NATS is up, the events are out of reach.
    server = await startNatsServer({ dir, jetstream: false, port: server.port });
    reached("restarted without JetStream");
    await reconnected(service.logs, 1);
    reached("reconnected");
    // The test's own connection reconnects on its own schedule: a request it sends before then fails
    // (nothing can be stored meanwhile: JetStream is away).
    const save = { id: randomUUID(), eventType: "T", actorId: actors[0], version: 1, data: {} };
    const away = await untilConnected(() => request(nc, "eventstore.save", save, 5000));
    expect(away.code).toBe(503);
    expect((await request(nc, "eventstore.version", { actorId: actors[0] }, 5000)).code).toBe(503);
    expect(service.process.exitCode).toBeNull();

    await server.halt("SIGTERM");
    server = await startNatsServer({ dir, jetstream: false, port: server.port, config: durable });
    reached("restarted with JetStream");
    await reconnected(service.logs, 2);
    reached("reconnected again");
    await load.acknowledged(200);
    reached("served again");
    await load.stop();

    const result = audit(load.acks, await readStoredEvents(nc, "EVENTS", await lastSequence(nc, "EVENTS")));
    console.log(
      JSON.stringify({
        phases,
        acknowledged: result.acknowledged,
        retries: load.retries,
        lost: result.lost.length,
        duplicated: result.duplicated.length,
      }),
    );
    expect(result).toMatchObject({ lost: [], duplicated: [], unacknowledged: [], outOfOrder: [] });
    expect(load.retries).toBeGreaterThan(0);
    expect(await service.stop()).toBe(0);
  } finally {
    // Closing the connection ends the writers' retries, so that stopping them does not wait on JetStream.
    const writersDone = load.stop().catch(() => undefined);
    await nc.close();
    await writersDone;
    await service.kill();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}, 120_000);
