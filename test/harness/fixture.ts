import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type Msg, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { afterAll, afterEach, beforeAll } from "vitest";
import { type NatsCluster, startNatsCluster } from "./nats-cluster.js";
import { type NatsServer, type NatsServerOptions, startNatsServer } from "./nats-server.js";
import { type ServiceProcess, startServiceProcess } from "./service-process.js";

export interface ServerFixture {
  server: NatsServer;
  /** A plain client connection to the server. */
  nc: NatsConnection;
}

/** A nats-server and a client connection for the tests of one file, both stopped after them. */
export function useNatsServer(options?: NatsServerOptions): ServerFixture {
  const f = {} as ServerFixture;
  beforeAll(async () => {
    f.server = await startNatsServer(options);
    f.nc = await connect({ servers: f.server.url });
  });
  afterAll(async () => {
    await f.nc?.close();
    await f.server?.stop();
  });
  return f;
}

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

export interface BatchCrashFixture {
  /** The server; a test that restarts it puts the new one here. */
  server: NatsServer;
  nc: NatsConnection;
  /** Starts a service process, stopped after the tests. */
  service(): Promise<ServiceProcess>;
  /**
   * Counts the atomic-batch messages that pass `subjects`, and resolves `halfway` once `after`
   * of them have; `committed` is set by the message `isCommit` names.
   */
  watchBatch(
    subjects: ReadonlySet<string>,
    after: number,
    isCommit: (msg: Msg) => boolean,
  ): { seen: { messages: number; subjects: Set<string>; committed: boolean }; halfway: Promise<void> };
  /**
   * Freezes the process (it can send nothing more), waits for what it sent to pass, kills it and
   * stops watching: how many batch messages got out before.
   */
  freezeAndKill(victim: ServiceProcess, seen: { messages: number }): Promise<number>;
}

/**
 * For tests that stop a service or the server in the middle of an atomic batch: a nats-server
 * that drops an abandoned batch after 1 s, so that the test sees it go.
 */
export function useBatchCrashServer(): BatchCrashFixture {
  const dir = mkdtempSync(join(tmpdir(), "es-batch-crash-"));
  const services: ServiceProcess[] = [];
  let watches: Subscription[] = [];
  const stopWatching = () => {
    for (const w of watches) w.unsubscribe();
    watches = [];
  };
  const f = {
    async service() {
      const s = await startServiceProcess(f.server.url);
      services.push(s);
      return s;
    },
    watchBatch(subjects, after, isCommit) {
      const seen = { messages: 0, subjects: new Set<string>(), committed: false };
      let reached!: () => void;
      const halfway = new Promise<void>((resolve) => (reached = resolve));
      const callback = (_err: unknown, msg: Msg) => {
        if (!msg.headers?.get("Nats-Batch-Id")) return;
        seen.messages++;
        seen.subjects.add(msg.subject);
        if (isCommit(msg)) seen.committed = true;
        if (seen.messages >= after) reached();
      };
      watches = [...subjects].map((subject) => f.nc.subscribe(subject, { callback }));
      return { seen, halfway };
    },
    async freezeAndKill(victim, seen) {
      victim.process.kill("SIGSTOP");
      await new Promise((resolve) => setTimeout(resolve, 300));
      const sent = seen.messages;
      await victim.kill();
      stopWatching();
      return sent;
    },
  } as BatchCrashFixture;
  beforeAll(async () => {
    f.server = await startNatsServer({
      jetstream: false,
      config: `jetstream { store_dir: ${JSON.stringify(dir)}, limits { batch { timeout: 1s } } }`,
    });
    f.nc = await connect({ servers: f.server.url, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
  });
  afterEach(stopWatching);
  afterAll(async () => {
    await f.nc?.close();
    for (const s of services) await s.kill();
    await f.server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return f;
}
