import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type NatsCluster, startNatsCluster } from "../harness/nats-cluster.js";
import {
  checkHandovers,
  createEventsStream,
  handledCount,
  IN_FLIGHT,
  periods,
  publishEvents,
  type Runner,
  runnerEnv,
  startRunner,
  stopRunner,
  until,
} from "../harness/projection-processes.js";

// An ordered projection on a replicated (R3) stream, its consumer R3 too, while the node leading
// the stream is SIGKILLed: the projection goes on from the ack floor the other replicas kept.
const UPFRONT = 6000;
const TOTAL = 8000;

let cluster: NatsCluster;
let nc: NatsConnection;
const runners: Runner[] = [];

beforeAll(async () => {
  cluster = await startNatsCluster(3);
  nc = await connect({ servers: cluster.urls.split(","), maxReconnectAttempts: -1, reconnectTimeWait: 250 });
  await createEventsStream(nc, 3);
}, 120_000);
afterAll(async () => {
  for (const r of runners) await stopRunner(r, "SIGKILL");
  await nc?.close();
  await cluster?.stop();
});

it("ordered on a 3-node cluster: the stream leader killed; every event handled, in order per handover", async () => {
  await publishEvents(nc, 1, UPFRONT);
  for (let i = 0; i < 3; i++) runners.push(await startRunner(i, cluster.urls, runnerEnv("cluster")));
  await until(() => runners.some((r) => r.isActive() && r.handled().length >= 1000), 60_000, "an active process with 1000 handled");
  const leader = await cluster.leaderOf("EVENTS");
  const consumerLeader = (await (await jetstreamManager(nc)).consumers.info("EVENTS", "proj-cluster")).cluster?.leader;
  const killedAt = Date.now();
  await cluster.kill(leader);
  await publishEvents(nc, UPFRONT + 1, TOTAL - UPFRONT);
  await until(() => handledCount(runners) >= TOTAL, 90_000, "every event handled");
  const after = periods(runners).filter((p) => p.at > killedAt);
  console.log(
    `ordered on a cluster, stream leader ${leader.name} killed (consumer leader ${consumerLeader}): ` +
      `${after.length} new active period(s), the first ${after[0] ? after[0].at - killedAt : "-"} ms after the kill`,
  );
  const { problems } = checkHandovers(periods(runners), TOTAL, IN_FLIGHT);
  expect(problems).toEqual([]);
}, 180_000);
