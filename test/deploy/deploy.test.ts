import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { SyntaxNode } from "@lezer/common";
import { AckPolicy, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { parser as promql } from "@prometheus-io/lezer-promql";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { loadConfig } from "../../src/server/config.js";
import { event } from "../harness/events.js";
import { METRICS_ENV, metricsPort, Scrape } from "../harness/metrics.js";
import { natsServerBin, startNatsServer } from "../harness/nats-server.js";
import { request } from "../harness/requests.js";
import { ROOT, startServiceProcess } from "../harness/service-process.js";

interface ComposeService {
  image?: string;
  build?: string | { context: string; dockerfile?: string };
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  deploy?: { replicas?: number };
}

const compose = parse(readFileSync(join(ROOT, "docker-compose.yml"), "utf8")) as {
  services: Record<string, ComposeService>;
};
const services = Object.entries(compose.services);
const natsServices = services.filter(([, s]) => s.image?.startsWith("nats:"));
const eventstores = services.filter(([, s]) => s.build !== undefined);

// No Docker engine runs here: the file is checked for coherence instead of being started.
describe("docker-compose.yml", () => {
  it("runs nats-server >= 2.12 with a mounted config that makes JetStream durable", () => {
    expect(natsServices.length).toBeGreaterThanOrEqual(1);
    for (const [name, nats] of natsServices) {
      const [major, minor] = nats.image!.split(":")[1]!.split(/[.-]/).map(Number);
      expect(major! * 100 + minor!, `${name} image`).toBeGreaterThanOrEqual(212);
      const confMount = nats.volumes!.find((v) => v.endsWith(".conf:ro") || v.includes(".conf:"))!;
      const [hostPath, containerPath] = confMount.split(":");
      expect(nats.command).toContain(containerPath);
      const conf = readFileSync(join(ROOT, hostPath!), "utf8");
      expect(conf).toMatch(/jetstream\s*\{/);
      expect(conf).toMatch(/sync_interval:\s*always/);
    }
  });

  it("builds the service from the Dockerfile and runs at least two replicas of it", () => {
    const replicas = eventstores.reduce((n, [, s]) => n + (s.deploy?.replicas ?? 1), 0);
    expect(replicas).toBeGreaterThanOrEqual(2);
    for (const [, s] of eventstores) {
      const context = typeof s.build === "string" ? s.build : s.build!.context;
      expect(existsSync(join(ROOT, context, "Dockerfile"))).toBe(true);
    }
  });

  it("gives every replica an environment the service accepts, pointing at the NATS service", () => {
    const natsNames = natsServices.map(([name]) => name);
    for (const [name, s] of eventstores) {
      const env = s.environment!;
      expect(() => loadConfig(env), name).not.toThrow();
      const hosts = env.NATS_URL!.split(",").map((u) => new URL(u).hostname);
      for (const h of hosts) expect(natsNames).toContain(h);
      expect(Object.keys(s.depends_on ?? {}).some((d) => natsNames.includes(d))).toBe(true);
    }
  });
});

describe("the NATS cluster of docker-compose.yml", () => {
  const nodes = natsServices.map(([name, s]) => {
    const hostPath = s.volumes!.find((v) => v.includes(".conf:"))!.split(":")[0]!;
    const conf = readFileSync(join(ROOT, hostPath), "utf8");
    const cluster = conf.match(/cluster\s*\{([\s\S]*?)\n\}/)?.[1] ?? "";
    return {
      name,
      file: join(ROOT, hostPath),
      serverName: conf.match(/^server_name:\s*(\S+)/m)?.[1],
      clusterName: cluster.match(/^\s*name:\s*(\S+)/m)?.[1],
      clusterPort: cluster.match(/^\s*port:\s*(\d+)/m)?.[1],
      routes: [...cluster.matchAll(/nats-route:\/\/([^:\s]+):(\d+)/g)].map((m) => ({ host: m[1]!, port: m[2]! })),
    };
  });

  it("has three nodes with unique server names in one cluster, each routed to every other node", () => {
    expect(nodes).toHaveLength(3);
    expect(new Set(nodes.map((n) => n.serverName)).size).toBe(nodes.length);
    expect(new Set(nodes.map((n) => n.clusterName)).size).toBe(1);
    expect(nodes[0]!.clusterName).toBeTruthy();
    for (const node of nodes) {
      const others = nodes.filter((n) => n !== node);
      expect(node.routes.map((r) => r.host).sort(), node.name).toEqual(others.map((n) => n.name).sort());
      for (const r of node.routes) expect(r.port).toBe(nodes.find((n) => n.name === r.host)!.clusterPort);
    }
  });

  it("gives every service replica all the nodes and a stream replicated to each of them", () => {
    for (const [name, s] of eventstores) {
      const hosts = s.environment!.NATS_URL!.split(",").map((u) => new URL(u).hostname);
      expect(hosts.sort(), name).toEqual(nodes.map((n) => n.name).sort());
      expect(loadConfig(s.environment!).replicas, name).toBe(nodes.length);
      for (const node of nodes) expect(Object.keys(s.depends_on ?? {})).toContain(node.name);
    }
  });

  it("has node configurations that nats-server accepts", () => {
    for (const node of nodes) {
      expect(() => execFileSync(natsServerBin(), ["-c", node.file, "-t"], { stdio: "pipe" }), node.name).not.toThrow();
    }
  });
});

describe("Dockerfile", () => {
  const dockerfile = readFileSync(join(ROOT, "Dockerfile"), "utf8");

  it("copies only what exists and starts the built entry point", () => {
    for (const m of dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)) {
      for (const src of m[1]!.split(/\s+/)) expect(existsSync(join(ROOT, src)), src).toBe(true);
    }
    expect(dockerfile).toContain('CMD ["node", "dist/src/main.js"]');
    expect(existsSync(join(ROOT, "src", "main.ts"))).toBe(true);
  });
});

describe("Prometheus and Grafana of docker-compose.yml", () => {
  const prometheus = compose.services.prometheus!;
  const grafana = compose.services.grafana!;
  const mounted = (s: ComposeService, target: string) => {
    const volume = s.volumes!.find((v) => v.split(":")[1] === target);
    expect(volume, target).toBeDefined();
    return join(ROOT, volume!.split(":")[0]!);
  };
  const prometheusFile = mounted(prometheus, "/etc/prometheus/prometheus.yml");
  const config = parse(readFileSync(prometheusFile, "utf8")) as {
    scrape_configs: { job_name: string; dns_sd_configs?: { names: string[]; type: string; port: number }[] }[];
  };
  const dashboardsDir = mounted(grafana, "/var/lib/grafana/dashboards");
  const dashboard = JSON.parse(readFileSync(join(dashboardsDir, "eventstore.json"), "utf8")) as {
    panels: { title: string; targets: { expr: string }[] }[];
  };

  it("has a Prometheus configuration that promtool accepts", () => {
    expect(() => execFileSync(process.env.PROMTOOL_BIN!, ["check", "config", prometheusFile], { stdio: "pipe" })).not.toThrow();
  });

  it("scrapes every replica of the service on its metrics port", () => {
    expect(eventstores.length).toBeGreaterThanOrEqual(1);
    for (const [name, s] of eventstores) {
      const port = loadConfig(s.environment!).metricsPort;
      expect(port, `${name} EVENTSTORE_METRICS_PORT`).toBeGreaterThan(0);
      // Docker's DNS answers a service's name with the address of each of its replicas.
      const job = config.scrape_configs.find((c) => c.dns_sd_configs?.some((d) => d.names.includes(name) && d.type === "A"));
      expect(job, name).toBeDefined();
      expect(job!.dns_sd_configs!.find((d) => d.names.includes(name))!.port).toBe(port);
    }
  });

  it("provisions Grafana with Prometheus as its data source and the dashboard's folder", () => {
    const provisioning = mounted(grafana, "/etc/grafana/provisioning");
    const sources = parse(readFileSync(join(provisioning, "datasources", "prometheus.yml"), "utf8")) as {
      datasources: { type: string; url: string }[];
    };
    const url = new URL(sources.datasources.find((d) => d.type === "prometheus")!.url);
    expect(Object.keys(compose.services)).toContain(url.hostname);
    const providers = parse(readFileSync(join(provisioning, "dashboards", "eventstore.yml"), "utf8")) as {
      providers: { options: { path: string } }[];
    };
    expect(providers.providers.map((p) => p.options.path)).toContain("/var/lib/grafana/dashboards");
  });

  it("has a dashboard of throughput, latency percentiles, error codes, conflicts, cache hit rate and projection lag", () => {
    const titles = dashboard.panels.map((p) => p.title.toLowerCase()).join("\n");
    for (const topic of ["throughput", "latency percentiles", "error", "conflicts", "cache hit rate", "projection lag"]) {
      expect(titles, topic).toContain(topic);
    }
  });

  it("queries only metrics and labels that a running service exports", async () => {
    const queried = dashboard.panels.flatMap((p) => p.targets.map((t) => ({ panel: p.title, ...selectors(t.expr) })));
    expect(
      queried.every((q) => q.errors === 0),
      JSON.stringify(queried.filter((q) => q.errors > 0)),
    ).toBe(true);
    const server = await startNatsServer();
    const service = await startServiceProcess(server.url, METRICS_ENV);
    try {
      // A projection and one request of each outcome the dashboard shows, so that their series exist.
      const nc = await connect({ servers: server.url });
      const jsm = await jetstreamManager(nc);
      await jsm.consumers.add("EVENTS", { durable_name: "proj-dashboard", ack_policy: AckPolicy.Explicit });
      const first = event("order-1", 1);
      for (const body of [first, first, event("order-1", 1)]) await request(nc, "eventstore.save", body);
      await nc.close();
      const scrape = await Scrape.of(metricsPort(service));
      for (const { panel, metrics } of queried) {
        for (const { name, labels } of metrics) {
          const family = scrape.families.get(name) ?? scrape.families.get(name.replace(/_(bucket|sum|count)$/, ""));
          expect(family, `${panel}: ${name}`).toBeDefined();
          const exported = new Set(family!.metrics.flatMap((m) => Object.keys(m.labels ?? {})));
          for (const label of labels) expect(exported, `${panel}: ${name}{${label}}`).toContain(label);
        }
      }
    } finally {
      await service.stop();
      await server.stop();
    }
  });
});

/** The metric names of a PromQL expression's selectors with the labels they match on, parsed by Prometheus' own grammar. */
function selectors(query: string): { metrics: { name: string; labels: string[] }[]; errors: number } {
  // Grafana fills in its interval variables before Prometheus sees the query.
  const expr = query.replace(/\$__(rate_interval|interval|range)\b/g, "5m");
  const metrics: { name: string; labels: string[] }[] = [];
  let errors = 0;
  const text = (node: SyntaxNode) => expr.slice(node.from, node.to);
  promql.parse(expr).iterate({
    enter(ref) {
      if (ref.type.isError) errors++;
      if (ref.name !== "VectorSelector") return;
      const node = ref.node;
      const labels = node.getChild("LabelMatchers")?.getChildren("UnquotedLabelMatcher") ?? [];
      metrics.push({
        name: text(node.getChild("Identifier")!),
        labels: labels.map((m) => text(m.getChild("LabelName")!)),
      });
    },
  });
  return { metrics, errors };
}
