import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NATS_CLI_INSTALL, natsCli, runNatsCli } from "../harness/nats-cli.js";
import { type NatsServer, startNatsServer } from "../harness/nats-server.js";
import { ROOT, type ServiceProcess, startServiceProcess } from "../harness/service-process.js";

const cli = natsCli();
if (!cli) {
  if (process.env.CI) throw new Error(`the nats CLI is missing in CI: .ci/run must install it (${NATS_CLI_INSTALL})`);
  console.warn(`skipping the nats CLI tests: install the CLI with: ${NATS_CLI_INSTALL}`);
}

/** Every `nats req <subject> '<json>'` line of the README, in order. */
function readmeRequests(): { subject: string; body: string }[] {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  return [...readme.matchAll(/^\s*nats req (\S+) '([^']*)'\s*$/gm)].map((m) => ({ subject: m[1]!, body: m[2]! }));
}

describe.skipIf(!cli)("the Go nats CLI sees and drives the service", () => {
  let server: NatsServer;
  let service: ServiceProcess;
  const nats = (...args: string[]) => runNatsCli(cli!, args, server.url);

  beforeAll(async () => {
    server = await startNatsServer();
    service = await startServiceProcess(server.url);
  });

  afterAll(async () => {
    await service?.stop();
    await server?.stop();
  });

  it("nats micro ls lists it", async () => {
    const r = await nats("micro", "ls", "--json");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const list = JSON.parse(r.stdout) as { name: string; version: string }[];
    expect(list.map((s) => s.name)).toContain("eventstore");
  });

  it("nats micro info, stats and ping accept its replies", async () => {
    const info = await nats("micro", "info", "eventstore", "--json");
    expect(info.code, info.stderr).toBe(0);
    const parsed = (JSON.parse(info.stdout) as { info: { endpoints: { name: string }[] } }).info;
    expect(parsed.endpoints.map((e) => e.name)).toEqual(
      expect.arrayContaining(["save", "append", "events", "version", "snapshot_save", "snapshot_get"]),
    );
    const stats = await nats("micro", "stats", "eventstore", "--json");
    expect(stats.code, stats.stderr).toBe(0);
    expect(JSON.parse(stats.stdout)).toEqual(expect.arrayContaining([expect.objectContaining({ name: "eventstore" })]));
    const ping = await nats("micro", "ping", "eventstore");
    expect(ping.code, ping.stderr).toBe(0);
    expect(ping.stdout + ping.stderr).toMatch(/eventstore/);
  });

  it("runs every nats req example of the README with the replies it shows", async () => {
    const examples = readmeRequests();
    expect(examples.length).toBeGreaterThanOrEqual(5);
    for (const { subject, body } of examples) {
      const r = await nats("req", subject, body);
      expect(r.code, `${subject} ${body}: ${r.stderr}`).toBe(0);
      const reply = JSON.parse(r.stdout.trim().split("\n").filter(Boolean).at(-1)!) as Record<string, unknown>;
      expect(reply, `${subject} ${body}`).not.toHaveProperty("error");
    }
  });
});
