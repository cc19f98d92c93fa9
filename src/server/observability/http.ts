import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "../logger.js";
import type { ServiceMetrics } from "./metrics.js";

export interface MetricsServer {
  readonly port: number;
  close(): Promise<void>;
}

/** Why the service is not ready, or undefined when it is. */
export type ReadinessCheck = () => Promise<string | undefined>;

/**
 * The operators' HTTP listener: /metrics (Prometheus text format), /healthz (the process is up and
 * answers) and /readyz (200 when the service can serve: connected to NATS, the streams answer).
 */
export async function startMetricsServer(
  port: number,
  host: string,
  metrics: ServiceMetrics,
  ready: ReadinessCheck,
  log: Logger,
): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    const answer = (status: number, contentType: string, body: string) => {
      res.writeHead(status, { "Content-Type": contentType });
      res.end(body);
    };
    if (req.method !== "GET" && req.method !== "HEAD") return answer(405, "text/plain", "method not allowed\n");
    if (path === "/healthz") return answer(200, "text/plain", "ok\n");
    if (path === "/readyz") {
      void ready().then(
        (reason) => (reason === undefined ? answer(200, "text/plain", "ready\n") : answer(503, "text/plain", `not ready: ${reason}\n`)),
        (err: unknown) => answer(503, "text/plain", `not ready: ${(err as Error).message}\n`),
      );
      return;
    }
    if (path === "/metrics") {
      void metrics.registry.metrics().then(
        (text) => answer(200, metrics.registry.contentType, text),
        (err: unknown) => {
          log.error({ err: (err as Error).message }, "could not collect the metrics");
          answer(500, "text/plain", "could not collect the metrics\n");
        },
      );
      return;
    }
    answer(404, "text/plain", "not found: /metrics, /healthz, /readyz\n");
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  const bound = (server.address() as AddressInfo).port;
  log.info({ host, port: bound }, "metrics listening: /metrics, /healthz, /readyz");
  return {
    port: bound,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
