import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type NatsServer, startNatsServer } from "../harness/nats-server.js";
import { request } from "../harness/requests.js";
import { type ServiceProcess, startServiceProcess } from "../harness/service-process.js";

// A service whose subscriptions are gone looks alive and answers nothing. It must exit non-zero
// instead, so that its supervisor restarts it (and the restart says what is wrong).

const ALLOWED =
  '"eventstore.>", "$SRV.>", "_INBOX.>", "$JS.EVENT.ADVISORY.STREAM.*.EVENTS", "$JS.EVENT.ADVISORY.STREAM.*.EVENTS_SNAPSHOTS"';
let server: NatsServer;
let service: ServiceProcess;

beforeAll(async () => {
  server = await startNatsServer({
    config: `authorization { users: [ { user: svc, password: s, permissions: { subscribe: [${ALLOWED}] } } ] }`,
  });
  service = await startServiceProcess(server.url, { NATS_USER: "svc", NATS_PASSWORD: "s" });
});
afterAll(async () => {
  await service?.kill();
  await server?.stop();
});

it("exits 1 when the server takes its subscriptions away (a permissions reload)", async () => {
  const nc = await connect({ servers: server.url, user: "svc", pass: "s" });
  try {
    expect((await request(nc, "eventstore.version", { actorId: "order-1" })).code).toBe(0);
    const conf = join(server.dir, "server.conf");
    writeFileSync(conf, readFileSync(conf, "utf8").replace(ALLOWED, '"_INBOX.>"'));
    const exited = new Promise<number | null>((resolve) => service.process.once("exit", resolve));
    server.process.kill("SIGHUP");
    expect(await exited).toBe(1);
    expect(service.logs.some((l) => l.level === 60)).toBe(true);
  } finally {
    await nc.close();
  }
});
