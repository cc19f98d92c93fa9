import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll } from "vitest";
import { type NatsCluster, startNatsCluster } from "./nats-cluster.js";
import { type NatsServer, type NatsServerOptions, startNatsServer } from "./nats-server.js";
import { type ServiceProcess, startServiceProcess } from "./service-process.js";

export interface ServiceFixture {
  server: NatsServer;
  /** The service processes, in start order; a test may replace one (and the fixture stops it). */
  services: ServiceProcess[];
  /** A plain client connection to the server. */
  nc: NatsConnection;
}

/**
 * A nats-server, `replicas` service processes and a client connection for the tests of one
 * describe block (or file), all stopped after them even when a test fails.
 */
export function useService(options: { server?: NatsServerOptions; env?: Record<string, string>; replicas?: number } = {}): ServiceFixture {
  const f = { services: [] as ServiceProcess[] } as ServiceFixture;
  beforeAll(async () => {
    f.server = await startNatsServer(options.server);
    for (let i = 0; i < (options.replicas ?? 1); i++) f.services.push(await startServiceProcess(f.server.url, options.env));
    f.nc = await connect({ servers: f.server.url });
  });
  afterAll(async () => {
    await f.nc?.close();
    for (const s of f.services) await s.stop();
    await f.server?.stop();
  });
  return f;
}

export interface ClusterFixture {
  cluster: NatsCluster;
  service: ServiceProcess;
  /** A client connection to the whole cluster, reconnecting for as long as it takes. */
  nc: NatsConnection;
}

/**
 * A 3-node cluster, one service process and a client connection for the tests of one file, all
 * stopped after them even when a test fails.
 */
export function useClusterService(env: Record<string, string>, setupTimeoutMs = 120_000): ClusterFixture {
  const f = {} as ClusterFixture;
  beforeAll(async () => {
    f.cluster = await startNatsCluster(3);
    f.service = await startServiceProcess(f.cluster.urls, env);
    f.nc = await connect({ servers: f.cluster.urls.split(","), maxReconnectAttempts: -1, reconnectTimeWait: 250 });
  }, setupTimeoutMs);
  afterAll(async () => {
    await f.nc?.close();
    await f.service?.kill();
    await f.cluster?.stop();
  });
  return f;
}
