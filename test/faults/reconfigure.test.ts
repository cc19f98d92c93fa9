import { jetstreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type NatsCluster, startNatsCluster, withConnection } from "../harness/nats-cluster.js";
import { runServiceToExit, startServiceProcess } from "../harness/service-process.js";

// A rolling deploy that forgot EVENTSTORE_REPLICAS=3 must not scale the streams down to one copy.

let cluster: NatsCluster;

beforeAll(async () => {
  cluster = await startNatsCluster(3);
  const service = await startServiceProcess(cluster.urls, { EVENTSTORE_REPLICAS: "3" });
  await service.stop();
}, 120_000);

afterAll(async () => {
  await cluster?.stop();
});

const replicas = () =>
  withConnection(cluster.urls, async (nc) => {
    const jsm = await jetstreamManager(nc);
    return [(await jsm.streams.info("EVENTS")).config.num_replicas, (await jsm.streams.info("EVENTS_SNAPSHOTS")).config.num_replicas];
  });

it("refuses to scale an R3 stream down to R1, and does it with EVENTSTORE_RECONFIGURE=1", async () => {
  expect(await replicas()).toEqual([3, 3]);
  const refused = await runServiceToExit({ NATS_URL: cluster.urls, EVENTSTORE_REPLICAS: "1" });
  expect(refused.code, refused.output).toBe(1);
  expect(refused.output).toContain("replicas from 3 to 1 (EVENTSTORE_REPLICAS)");
  expect(refused.output).toContain("eventstore could not start");
  expect(await replicas()).toEqual([3, 3]);

  const service = await startServiceProcess(cluster.urls, { EVENTSTORE_REPLICAS: "1", EVENTSTORE_RECONFIGURE: "1" });
  try {
    expect(await replicas()).toEqual([1, 1]);
    expect(service.logs.some((l) => l.msg === "stream updated" && l.level === 40)).toBe(true);
  } finally {
    await service.stop();
  }
}, 60_000);
