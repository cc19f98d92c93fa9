import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, it, onTestFailed, vi } from "vitest";
import { get, METRICS_ENV, metricsPort, Scrape } from "../harness/metrics.js";
import { type NatsServer, startNatsServer } from "../harness/nats-server.js";
import { startServiceProcess } from "../harness/service-process.js";

const until = <T>(check: () => Promise<T>) => vi.waitFor(check, { timeout: 20_000, interval: 100 });

it("is not ready while nats-server is stopped or without JetStream, and ready again once it is back", async () => {
  const dir = mkdtempSync(join(tmpdir(), "es-ready-"));
  const durable = `jetstream { store_dir: ${JSON.stringify(join(dir, "js"))} }`;
  let server: NatsServer = await startNatsServer({ dir, jetstream: false, config: durable });
  const service = await startServiceProcess(server.url, { ...METRICS_ENV, EVENTSTORE_JS_TIMEOUT_MS: "1000" });
  onTestFailed(() => console.log(service.output()));
  try {
    const port = metricsPort(service);
    expect(await get(port, "/readyz")).toEqual({ status: 200, text: "ready\n" });

    await server.halt();
    await until(async () =>
      expect(await get(port, "/readyz")).toEqual({ status: 503, text: "not ready: the serve connection to NATS is down\n" }),
    );
    // The process itself is fine: liveness holds, and the metrics say what is wrong.
    expect((await get(port, "/healthz")).status).toBe(200);
    expect((await Scrape.of(port)).value("eventstore_nats_connected", { connection: "serve" })).toBe(0);

    // NATS back without JetStream: connected, but the streams do not answer.
    server = await startNatsServer({ dir, jetstream: false, port: server.port });
    await until(async () => {
      const r = await get(port, "/readyz");
      expect(r.status).toBe(503);
      expect(r.text).toMatch(/^not ready: stream EVENTS: /);
    });

    await server.halt();
    server = await startNatsServer({ dir, jetstream: false, port: server.port, config: durable });
    await until(async () => expect(await get(port, "/readyz")).toEqual({ status: 200, text: "ready\n" }));
    const scrape = await Scrape.of(port);
    expect(scrape.value("eventstore_nats_connected", { connection: "serve" })).toBe(1);
    expect(scrape.value("eventstore_nats_reconnects_total", { connection: "serve" })).toBe(2);
  } finally {
    await service.stop();
    await server.stop();
  }
});
