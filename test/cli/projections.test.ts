import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, expect, it } from "vitest";
import { EventStoreClient } from "../../src/client/client.js";
import type { Projection } from "../../src/client/projection.js";
import { type NatsServer, startNatsServer } from "../harness/nats-server.js";
import { createEventsStream, publishEvents, until } from "../harness/projection-processes.js";
import { runCli } from "./run-cli.js";

let server: NatsServer;
let nc: NatsConnection;
let projection: Projection;
const seen: number[] = [];

const cli = (...args: string[]) => runCli(["projections", ...args, "--stream", "EVENTS"], { env: { NATS_URL: server.url } });

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  await createEventsStream(nc);
  await publishEvents(nc, 1, 6);
  const store = new EventStoreClient(nc, { stream: "EVENTS" });
  projection = await store.project("totals", (i) => void seen.push(i.sequence), { actorType: "order", pinTtlMs: 3000 });
  await until(() => seen.length === 6, 10_000, "6 events");
});
afterAll(async () => {
  await projection?.stop();
  await nc?.close();
  await server?.stop();
});

it("projections ls prints each projection's mode, filter, ack floor, lag and active process as JSON when piped", async () => {
  await publishEvents(nc, 7, 1);
  await until(() => seen.length === 7, 10_000, "the 7th event");
  // The ack is on its way when the handler has run.
  await expect.poll(async () => (await projection.status()).ackFloor).toBe(7);
  const r = await cli("ls");
  expect(r.code, r.stderr).toBe(0);
  const listed = JSON.parse(r.stdout) as Record<string, unknown>[];
  expect(listed).toEqual([
    {
      name: "totals",
      mode: "ordered",
      filter: "EVENTS.events.order.>",
      ackFloor: 7,
      pending: 0,
      redelivered: 0,
      active: expect.any(String),
      skipped: [],
    },
  ]);
  expect(listed[0]!.active).not.toBe("");
});

it("projections reset moves a running projection, which replays; rm deletes it", async () => {
  const r = await cli("reset", "totals", "--seq", "5");
  expect(r.code, r.stderr).toBe(0);
  expect(JSON.parse(r.stdout)).toEqual({ name: "totals", resetTo: 5 });
  await until(() => seen.length === 10, 10_000, "the replay of 5..7");
  expect(seen.slice(7)).toEqual([5, 6, 7]);

  expect(JSON.parse((await cli("reset", "totals", "--start")).stdout)).toEqual({ name: "totals", resetTo: 1 });
  const time = new Date(Date.now() + 60_000).toISOString();
  expect(JSON.parse((await cli("reset", "totals", "--time", time)).stdout)).toEqual({ name: "totals", resetTo: 8 });

  const rm = await cli("rm", "totals");
  expect(rm.code, rm.stderr).toBe(0);
  expect(JSON.parse(rm.stdout)).toEqual({ name: "totals", removed: true });
  await expect((await jetstreamManager(nc)).consumers.info("EVENTS", "proj-totals")).rejects.toThrow(/consumer not found/);
  const again = await cli("rm", "totals");
  expect(again.code).toBe(1);
  expect(again.stderr).toContain('no projection "totals"');
});

it("refuses a reset without exactly one target, and unknown actions, as usage errors", async () => {
  for (const args of [["reset", "totals"], ["reset", "totals", "--start", "--seq", "2"], ["reset", "totals", "--time", "soon"], ["move"]]) {
    const r = await cli(...args);
    expect(r.code, args.join(" ")).toBe(2);
  }
  expect((await runCli(["ls", "--seq", "2"])).code).toBe(2);
});
