import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ClusterInfo, jetstreamManager, StorageType } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { freePort, type NatsServer, startNatsServer } from "./nats-server.js";

/** One nats-server of the cluster; its ports and store survive a kill, so it can come back as itself. */
export interface ClusterNode {
  readonly name: string;
  readonly url: string;
  readonly dir: string;
  /** undefined while the node is down. */
  server?: NatsServer;
}

export interface NatsCluster {
  readonly nodes: readonly ClusterNode[];
  /** Every node's client URL, comma-separated: what a client or NATS_URL is given. */
  readonly urls: string;
  /** The node that leads the stream's replicas now (waits through an election). */
  leaderOf(stream: string): Promise<ClusterNode>;
  /** Resolves once the stream has a leader and every other replica is online and current. */
  replicasCurrent(stream: string): Promise<void>;
  /** SIGKILL: no flush, no goodbye to the other nodes. */
  kill(node: ClusterNode): Promise<void>;
  /** Starts a killed node again on its ports with its store. */
  restart(node: ClusterNode): Promise<void>;
  /** Stops every node and deletes their directories. */
  stop(): Promise<void>;
}

const CLUSTER_NAME = "es-test";

export interface ClusterOptions {
  /** Configuration every node includes (an authorization block, say). */
  include?: string;
  /** The user the harness's own connections use, when `include` demands one. */
  user?: { user: string; pass: string };
}

/**
 * Starts `size` JetStream nodes on loopback, routed to each other, each acknowledging a write only
 * once it is on disk (sync_interval: always), and resolves once JetStream answers through every node.
 * `include` is configuration every node has besides (accounts, say).
 */
export async function startNatsCluster(size = 3, options: ClusterOptions = {}): Promise<NatsCluster> {
  const root = mkdtempSync(join(tmpdir(), "es-cluster-"));
  // nats-server resolves an include against the including file's directory, and only a relative path.
  if (options.include !== undefined) writeFileSync(join(root, "include.conf"), options.include);
  const harnessConnection: WithConnection = (servers, use) => withConnectionAs(servers, use, options.user);
  const clientPorts: number[] = [];
  const routePorts: number[] = [];
  for (let i = 0; i < size; i++) {
    clientPorts.push(await freePort());
    routePorts.push(await freePort());
  }
  const nodes: ClusterNode[] = [];
  const configs = new Map<ClusterNode, string>();
  for (let i = 0; i < size; i++) {
    const node: ClusterNode = { name: `n${i + 1}`, url: `nats://127.0.0.1:${clientPorts[i]}`, dir: join(root, `n${i + 1}`) };
    const routes = routePorts.filter((_, j) => j !== i).map((p) => `nats-route://127.0.0.1:${p}`);
    configs.set(
      node,
      [
        `server_name: ${node.name}`,
        `jetstream { store_dir: ${JSON.stringify(join(node.dir, "js"))}, sync_interval: always }`,
        `cluster { name: ${CLUSTER_NAME}, listen: 127.0.0.1:${routePorts[i]}, routes: [${routes.join(", ")}] }`,
        ...(options.include !== undefined ? ["include ../include.conf"] : []),
      ].join("\n"),
    );
    nodes.push(node);
  }

  const start = async (node: ClusterNode) => {
    const port = Number(new URL(node.url).port);
    mkdirSync(node.dir, { recursive: true });
    node.server = await startNatsServer({ jetstream: false, port, dir: node.dir, config: configs.get(node) });
  };
  const stopAll = async () => {
    await Promise.all(nodes.map((n) => n.server?.halt("SIGKILL")));
    rmSync(root, { recursive: true, force: true });
  };

  try {
    await Promise.all(nodes.map(start));
    for (const node of nodes) await waitForJetStream(node.url, harnessConnection);
    await waitForPlacement(nodes.map((n) => n.url).join(","), size, harnessConnection);
  } catch (err) {
    await stopAll();
    throw err;
  }

  /** Asks the running nodes for the stream's cluster info until `ready` accepts it. */
  const streamClusterInfo = async (stream: string, ready: (c: ClusterInfo) => boolean): Promise<ClusterInfo> => {
    const deadline = Date.now() + 60_000;
    let last: unknown;
    for (;;) {
      try {
        const running = nodes
          .filter((n) => n.server)
          .map((n) => n.url)
          .join(",");
        const info = await harnessConnection(running, async (nc) => {
          const jsm = await jetstreamManager(nc, { timeout: 2000 });
          return (await jsm.streams.info(stream)).cluster;
        });
        last = info;
        if (info && ready(info)) return info;
      } catch (err) {
        // no meta leader or stream leader yet: ask again
        last = err;
      }
      if (Date.now() > deadline) throw new Error(`stream ${stream}: cluster not ready within 60s (${JSON.stringify(last)})`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  return {
    nodes,
    urls: nodes.map((n) => n.url).join(","),
    async leaderOf(stream) {
      const info = await streamClusterInfo(stream, (c) => nodes.some((n) => n.server && n.name === c.leader));
      return nodes.find((n) => n.name === info.leader)!;
    },
    async replicasCurrent(stream) {
      await streamClusterInfo(
        stream,
        (c) => !!c.leader && (c.replicas ?? []).length === size - 1 && (c.replicas ?? []).every((r) => r.current && !r.offline),
      );
    },
    async kill(node) {
      await node.server?.halt("SIGKILL");
      node.server = undefined;
    },
    async restart(node) {
      if (node.server) throw new Error(`${node.name} is running`);
      await start(node);
    },
    async stop() {
      await stopAll();
    },
  };
}

type WithConnection = <T>(servers: string, use: (nc: NatsConnection) => Promise<T>) => Promise<T>;

export function withConnection<T>(servers: string, use: (nc: NatsConnection) => Promise<T>): Promise<T> {
  return withConnectionAs(servers, use);
}

async function withConnectionAs<T>(
  servers: string,
  use: (nc: NatsConnection) => Promise<T>,
  user?: { user: string; pass: string },
): Promise<T> {
  const nc = await connect({ servers: servers.split(","), noRandomize: true, ...user });
  try {
    return await use(nc);
  } finally {
    await nc.close();
  }
}

/** A new cluster elects its JetStream meta leader a moment after its nodes listen. */
async function waitForJetStream(url: string, harnessConnection: WithConnection): Promise<void> {
  const deadline = Date.now() + 30_000;
  await harnessConnection(url, async (nc) => {
    for (;;) {
      try {
        const jsm = await jetstreamManager(nc, { timeout: 2000 });
        await jsm.getAccountInfo();
        return;
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`JetStream did not come up on ${url}: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  });
}

/**
 * The meta leader answers before it has heard from every peer; until then a stream with one
 * replica per node fails with "no suitable peers for placement". Creating one proves they are all there.
 */
async function waitForPlacement(servers: string, replicas: number, harnessConnection: WithConnection): Promise<void> {
  const deadline = Date.now() + 30_000;
  await harnessConnection(servers, async (nc) => {
    const jsm = await jetstreamManager(nc, { timeout: 5000 });
    for (;;) {
      try {
        await jsm.streams.add({
          name: "PLACEMENT_PROBE",
          subjects: ["placement.probe"],
          num_replicas: replicas,
          storage: StorageType.Memory,
        });
        await jsm.streams.delete("PLACEMENT_PROBE");
        return;
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`the cluster could not place ${replicas} replicas: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  });
}
