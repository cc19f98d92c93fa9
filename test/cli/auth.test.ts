import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type NatsServer, startNatsServer } from "../harness/nats-server.js";
import { type ServiceProcess, startServiceProcess } from "../harness/service-process.js";
import { runCli } from "./run-cli.js";

// The CLI reads the same connection settings as the service: flags first, then the variables.
describe("user and password", () => {
  let server: NatsServer;
  let service: ServiceProcess;

  beforeAll(async () => {
    server = await startNatsServer({ config: 'authorization { user: "app", password: "s3cret" }' });
    service = await startServiceProcess(server.url, { NATS_USER: "app", NATS_PASSWORD: "s3cret" });
  });

  afterAll(async () => {
    await service?.stop();
    await server?.stop();
  });

  it("--user and --password", async () => {
    const r = await runCli(["version", "account-1", "--server", server.url, "--user", "app", "--password", "s3cret"]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ actorId: "account-1", version: 0 });
  });

  it("NATS_URL, NATS_USER and NATS_PASSWORD", async () => {
    const r = await runCli(["version", "account-1"], { env: { NATS_URL: server.url, NATS_USER: "app", NATS_PASSWORD: "s3cret" } });
    expect(r.code, r.stderr).toBe(0);
  });

  it("fails with 1 without them, and with 2 for a user without a password, naming the flags", async () => {
    const refused = await runCli(["version", "account-1", "--server", server.url]);
    expect(refused.code, refused.stderr).toBe(1);
    expect(refused.stderr.toLowerCase()).toContain("authorization");
    const half = await runCli(["version", "account-1", "--server", server.url, "--user", "app"]);
    expect(half.code, half.stderr).toBe(2);
    expect(half.stderr).toContain("--user needs --password (or NATS_PASSWORD)");
    const other = await runCli(["version", "account-1", "--server", server.url, "--password", "s3cret"]);
    expect(other.code, other.stderr).toBe(2);
    expect(other.stderr).toContain("--password needs --user (or NATS_USER)");
    // A password in the environment completes --user; the variables alone keep the configuration's words.
    const mixed = await runCli(["version", "account-1", "--server", server.url, "--user", "app"], { env: { NATS_PASSWORD: "s3cret" } });
    expect(mixed.code, mixed.stderr).toBe(0);
    const variables = await runCli(["version", "account-1"], { env: { NATS_URL: server.url, NATS_USER: "app" } });
    expect(variables.code, variables.stderr).toBe(2);
    expect(variables.stderr).toContain("NATS_USER and NATS_PASSWORD go together");
  });
});

describe("token", () => {
  let server: NatsServer;
  let service: ServiceProcess;

  beforeAll(async () => {
    server = await startNatsServer({ config: 'authorization { token: "t0ken" }' });
    service = await startServiceProcess(server.url, { NATS_TOKEN: "t0ken" });
  });

  afterAll(async () => {
    await service?.stop();
    await server?.stop();
  });

  it("--token and NATS_TOKEN", async () => {
    expect((await runCli(["version", "account-1", "--server", server.url, "--token", "t0ken"])).code).toBe(0);
    expect((await runCli(["version", "account-1"], { env: { NATS_URL: server.url, NATS_TOKEN: "t0ken" } })).code).toBe(0);
    expect((await runCli(["version", "account-1", "--server", server.url, "--token", "wrong"])).code).toBe(1);
  });
});
