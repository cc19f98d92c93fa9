import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { loadConfig } from "../src/config.js";
import { natsServerBin } from "./harness/nats-server.js";
import { ROOT } from "./harness/service-process.js";

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
