import { networkInterfaces } from "node:os";
import { afterAll, beforeAll, expect, it } from "vitest";
import { METRICS_ENV, metricsPort } from "../harness/metrics.js";
import { type NatsServer, startNatsServer } from "../harness/nats-server.js";
import { startServiceProcess } from "../harness/service-process.js";

// The metrics listener has no authentication: by default it answers on loopback only, and on other
// interfaces when EVENTSTORE_METRICS_HOST says so (a Prometheus in another container).

/** An address of this machine that is not 127.0.0.1: another interface's, else another loopback address (Linux answers all of 127/8). */
function otherAddress(): string {
  const external = Object.values(networkInterfaces())
    .flat()
    .find((a) => a && a.family === "IPv4" && !a.internal);
  return external?.address ?? "127.0.0.2";
}

/** The status /healthz answers on that address, or the connection's error code. */
async function healthz(address: string, port: number): Promise<number | string> {
  try {
    return (await fetch(`http://${address}:${port}/healthz`, { signal: AbortSignal.timeout(5000) })).status;
  } catch (err) {
    return ((err as Error).cause as NodeJS.ErrnoException | undefined)?.code ?? String(err);
  }
}

let server: NatsServer;
beforeAll(async () => {
  server = await startNatsServer();
});
afterAll(async () => {
  await server?.stop();
});

it("answers on loopback only by default", async () => {
  const service = await startServiceProcess(server.url, METRICS_ENV);
  try {
    const port = metricsPort(service);
    expect(await healthz("127.0.0.1", port)).toBe(200);
    expect(await healthz(otherAddress(), port)).toBe("ECONNREFUSED");
  } finally {
    await service.stop();
  }
});

it("answers on every interface with EVENTSTORE_METRICS_HOST=0.0.0.0", async () => {
  const service = await startServiceProcess(server.url, { ...METRICS_ENV, EVENTSTORE_METRICS_HOST: "0.0.0.0" });
  try {
    expect(await healthz(otherAddress(), metricsPort(service))).toBe(200);
  } finally {
    await service.stop();
  }
});
