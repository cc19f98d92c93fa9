// npm run bench: the service against the raw JetStream limit, measured in one run on one machine.
// BENCH_QUICK=1 runs small counts (for CI: proves the benchmark still works, asserts nothing).
// BENCH_OUT=dir writes the results there instead of bench/results (and leaves docs/ alone).
// BENCH_ONLY=saves runs only the saves beside the limit (throughput and latency ratios) and prints
// their rows as JSON, writing no file: for comparing builds or settings in interleaved runs.
// BENCH_ONLY=projections runs only the projection throughput and prints its line (writes nothing).
// BENCH_ONLY=reads runs only the full reads through both read paths and prints their lines (writes nothing).
// BENCH_SERVICE_ENV='{"NAME":"value"}' adds to the service's environment (EVENTSTORE_METRICS_PORT, OTEL_...).
import { type ChildProcess, execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, totalmem, type } from "node:os";
import { join } from "node:path";
import { AckPolicy, type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Subjects } from "../src/contract/subjects.js";
import { EventStoreClient } from "../src/index.js";
import { findNatsServer } from "../src/server/nats/local-server.js";
import { packageRoot } from "../src/server/paths.js";
import { eventsStreamConfig, snapshotsStreamConfig } from "../src/server.js";
import { startNatsCluster } from "../test/harness/nats-cluster.js";
import { startNatsServer } from "../test/harness/nats-server.js";
import { startServiceProcess } from "../test/harness/service-process.js";
import { FLOOR_SUBJECT, imageNodeOptions, median, medianIndex, ProcessSampler, round, startFloorService } from "./measure.js";
import {
  type BenchResult,
  type FullRead,
  type FullReadDirect,
  fullReadLines,
  markdown,
  type ProjectionBench,
  projectionLine,
  type SavePair,
  type SaveRow,
  svg,
  targets,
} from "./report.js";
import {
  appends,
  bigActor,
  type ConditionalBench,
  call,
  conditionalVersusSaves,
  fill,
  firstSeq,
  firstVersusKnown,
  fullReads,
  growWithTargets,
  limitSaves,
  pairedCalls,
  projectionRound,
  rawBatch,
  rawGets,
  rawLast,
  readTag,
  saveLatencies,
  serviceSaves,
  streamMessages,
  transactions,
} from "./scenarios.js";

const quick = process.env.BENCH_QUICK === "1";
const savesOnly = process.env.BENCH_ONLY === "saves";
// The service runs with the image's node options; BENCH_SERVICE_ENV adds to them or overrides them.
const serviceEnv = { NODE_OPTIONS: imageNodeOptions(), ...(JSON.parse(process.env.BENCH_SERVICE_ENV ?? "{}") as Record<string, string>) };
// nats-server stages each atomic batch before its commit (a few ms on file storage), so appends
// need more in flight than saves to show their throughput; the server caps batches in flight per stream.
// Transactions are atomic batches too and run at the same concurrency.
const APPEND_IN_FLIGHT = 32;
const root = packageRoot();
const out = process.env.BENCH_OUT ?? join(root, "bench", "results");
const EVENTS = new Subjects("EVENTS");
const READS = new Subjects("READS");
// A stream at its consumer limit, so that every long read takes the direct-get fallback.
const FALLBACK = new Subjects("FALLBACK");
const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);

// On a machine shared with other work, one run of the limit and one of the service can meet
// different moments; runs taken in turn, several times, show how far a ratio moves.
const SAVE_PAIRS = 3;
const plan = quick
  ? {
      concurrency: [1, 16, 64, 256],
      ops: [100, 700, 1000, 1000],
      actors: 1024,
      firstSave: 100,
      readStages: [3_000, 10_000, 30_000],
      targets: 5,
      reads: 50,
      bigActor: 2_000,
      fullReadRounds: 3,
      versionCalls: 100,
      saveCalls: 100,
      warmUp: 200,
      appendBatches: 200,
      // [actors, events per actor, transactions]
      transactions: [
        [2, 1, 300],
        [10, 10, 64],
      ],
      projectionEvents: 5_000,
      conditional: { rounds: 50, ops: 500 },
    }
  : {
      concurrency: [1, 16, 64, 256],
      ops: [3000, 20000, 40000, 40000],
      actors: 2048,
      firstSave: 1000,
      readStages: [10_000, 300_000, 1_000_000],
      targets: 20,
      reads: 400,
      bigActor: 10_000,
      fullReadRounds: 7,
      versionCalls: 1000,
      saveCalls: 2000,
      warmUp: 4000,
      appendBatches: 2000,
      transactions: [
        [2, 1, 4000],
        [10, 10, 400],
      ],
      projectionEvents: 100_000,
      conditional: { rounds: 500, ops: 6_000 },
    };
const PROJECTION_ROUNDS = 3;

async function main(): Promise<void> {
  process.env.NATS_SERVER_BIN ??= findNatsServer();
  const server = await startNatsServer({ config: "max_payload: 1MB" });
  let service = await startServiceProcess(server.url, { LOG_LEVEL: "info", EVENTSTORE_STREAM: EVENTS.stream, ...serviceEnv }).catch(
    async (err: unknown) => {
      await server.stop();
      throw err;
    },
  );
  const nc = await connect({ servers: server.url, noAsyncTraces: true });
  let floor: ChildProcess | undefined;
  try {
    const js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    if (process.env.BENCH_ONLY === "projections") {
      process.stdout.write(`${projectionLine(await projections(nc, js, jsm))}\n`);
      return;
    }
    if (process.env.BENCH_ONLY === "reads") {
      const big = await bigActor(nc, plan.bigActor);
      const fullRead = await compareFullReads(
        new EventStoreClient(nc, { stream: EVENTS.stream }),
        js,
        jsm,
        big,
        plan.bigActor,
        plan.fullReadRounds,
      );
      await service.stop();
      await fallbackStreams(jsm);
      service = await startServiceProcess(server.url, { LOG_LEVEL: "info", EVENTSTORE_STREAM: FALLBACK.stream, ...serviceEnv });
      const fullReadDirect = await compareDirectReads(nc, js, jsm, big);
      process.stdout.write(`${fullReadLines(fullRead, fullReadDirect).join("\n")}\n`);
      return;
    }
    await jsm.streams.add({ name: "LIMIT", subjects: ["LIMIT.events.>"], allow_direct: true });
    await jsm.streams.add({ name: "FLOOR", subjects: ["FLOOR.events.>"], allow_direct: true });
    floor = await startFloorService(server.url, "FLOOR", imageNodeOptions().split(" "));
    // Every way warmed up first (the JIT of the three processes), on actors of its own.
    log("warming up the raw publish, the service and the floor service");
    await limitSaves(js, "LIMIT", 64, plan.warmUp, actors(plan.actors));
    await serviceSaves(nc, 64, plan.warmUp, actors(plan.actors));
    await serviceSaves(nc, 64, plan.warmUp, actors(plan.actors), FLOOR_SUBJECT);
    const sampler = new ProcessSampler(service.process.pid!);

    const saves: SaveRow[] = [];
    let peakRssMbAt256 = 0;
    sampler.start();
    for (const [k, c] of plan.concurrency.entries()) {
      const n = plan.ops[k]!;
      const pairs: SavePair[] = [];
      for (let p = 1; p <= SAVE_PAIRS; p++) {
        log(`saves at ${c} in flight, pair ${p} of ${SAVE_PAIRS}: limit, then service, then floor service`);
        const limit = await limitSaves(js, "LIMIT", c, n, actors(plan.actors));
        const inner = new ProcessSampler(service.process.pid!);
        inner.start();
        const svc = await serviceSaves(nc, c, n, actors(plan.actors));
        const used = inner.stop();
        if (c === 256) peakRssMbAt256 = Math.max(peakRssMbAt256, used.peakRssMb);
        const floorRun = await serviceSaves(nc, c, n, actors(plan.actors), FLOOR_SUBJECT);
        pairs.push({
          limit,
          service: svc,
          floor: floorRun,
          floorRatio: round(floorRun.opsPerSec / limit.opsPerSec),
          ratio: round(svc.opsPerSec / limit.opsPerSec),
          p50Ratio: round(svc.p50 / limit.p50, 2),
          serviceCpuUsPerSave: round((used.cpuSeconds * 1e6) / n, 1),
        });
      }
      saves.push(saveRow(c, pairs));
    }
    const duringSaves = sampler.stop();
    log("saves one at a time: a raw publish, a save, a save through the floor service, in turn");
    const saveLatency = await saveLatencies(js, "LIMIT", nc, FLOOR_SUBJECT, plan.saveCalls);
    if (savesOnly) {
      const brief = saves.map((r) => ({
        concurrency: r.concurrency,
        ratio: r.ratio,
        ratioRange: r.ratioRange,
        floorRatio: r.floorRatio,
        p50Ratio: r.p50Ratio,
        p50RatioRange: r.p50RatioRange,
        cpuUsPerSave: r.cpuUsPerSave,
        serviceOpsPerSec: r.service.opsPerSec,
        serviceP50: r.service.p50,
      }));
      process.stdout.write(`${JSON.stringify({ serviceEnv, saves: brief, saveLatency, cpu: duringSaves }, null, 2)}\n`);
      return;
    }

    log("first save of new actors against known ones");
    const firstSave = await firstVersusKnown(nc, plan.firstSave);

    log("appends");
    let append: BenchResult["append"];
    try {
      const a = await appends(nc, APPEND_IN_FLIGHT, plan.appendBatches, 10);
      append = { concurrency: APPEND_IN_FLIGHT, batchSize: a.batchSize, eventsPerSec: a.eventsPerSec, p50: a.p50, p99: a.p99 };
    } catch (err) {
      append = { skipped: (err as Error).message };
    }

    log("transactions");
    const client = new EventStoreClient(nc, { stream: EVENTS.stream });
    let transact: BenchResult["transact"] = [];
    try {
      for (const [actorsPer, eventsPer, count] of plan.transactions) {
        const t = await transactions(client, APPEND_IN_FLIGHT, count, actorsPer, eventsPer);
        transact.push({
          concurrency: APPEND_IN_FLIGHT,
          actors: t.actors,
          eventsPerActor: t.eventsPerActor,
          transactionsPerSec: t.opsPerSec,
          eventsPerSec: t.eventsPerSec,
          p50: t.p50,
          p99: t.p99,
        });
      }
    } catch (err) {
      transact = { skipped: (err as Error).message };
    }

    log("conditional appends beside saves of new actors, and nats-server's atomic batch beside a publish, in turn");
    let conditional: BenchResult["conditional"];
    try {
      await jsm.streams.add({ name: "RAWBATCH", subjects: ["RAWBATCH.>"], allow_direct: true, allow_atomic: true });
      conditional = await conditionalVersusSaves(nc, "RAWBATCH", plan.conditional.rounds, plan.conditional.ops, 64);
    } catch (err) {
      conditional = { skipped: (err as Error).message };
    }
    log("the same on a 3-node cluster, stream replicas 3");
    let conditionalR3: BenchResult["conditionalR3"];
    try {
      conditionalR3 = await conditionalOnCluster();
    } catch (err) {
      conditionalR3 = { skipped: (err as Error).message };
    }

    const projection = await projections(nc, js, jsm);

    log("full reads of a big actor, through the service and straight from JetStream, in turn");
    const big = await bigActor(nc, plan.bigActor);
    const fullRead = await compareFullReads(client, js, jsm, big, plan.bigActor, plan.fullReadRounds);

    log("version of a small and a big actor, beside a direct get of the last message");
    const small = await bigActor(nc, 10);
    const version: BenchResult["version"] = [];
    for (const [actorId, events] of [
      [small, 10],
      [big, plan.bigActor],
    ] as const) {
      const subject = EVENTS.events(actorId);
      const paired = await pairedCalls(
        plan.versionCalls,
        () => rawLast(jsm, EVENTS.stream, subject),
        () => call(nc, "eventstore.version", { actorId }),
      );
      version.push({ events, ...paired });
    }

    log("full reads with no consumer to be had, beside the raw reads, in turn");
    await service.stop();
    await fallbackStreams(jsm);
    service = await startServiceProcess(server.url, { LOG_LEVEL: "info", EVENTSTORE_STREAM: FALLBACK.stream, ...serviceEnv });
    const fullReadDirect = await compareDirectReads(nc, js, jsm, big);

    // Reads run against a stream of their own, so that its size is exactly each stage's.
    await service.stop();
    service = await startServiceProcess(server.url, { LOG_LEVEL: "info", EVENTSTORE_STREAM: READS.stream, ...serviceEnv });
    const reads: BenchResult["reads"] = [];
    const tagReads: BenchResult["tagReads"] = [];
    for (const stage of plan.readStages) {
      const have = await streamMessages(jsm, READS.stream);
      log(`growing the stream from ${have} to ${stage} messages`);
      const { actors: targets, tags, tagPositions } = await growWithTargets(nc, js, READS.stream, stage - have, plan.targets);
      const size = await streamMessages(jsm, READS.stream);
      log(`20-event reads in a stream of ${size}, beside batch direct gets of the same 20 messages`);
      const starts = await Promise.all(targets.map((id) => firstSeq(jsm, READS.stream, READS.events(id))));
      const target = (i: number) => i % targets.length;
      const paired = await pairedCalls(
        plan.reads,
        (i) => rawBatch(jsm, READS.stream, READS.events(targets[target(i)]!), starts[target(i)]!, 20),
        (i) => call(nc, "eventstore.events", { actorId: targets[target(i)] }),
      );
      reads.push({ streamMessages: size, ...paired });
      log(`reads of a 20-event tag in a stream of ${size}, beside direct gets of the same 20 messages`);
      const tagged = await pairedCalls(
        plan.reads,
        (i) => rawGets(jsm, READS.stream, tagPositions[target(i)]!),
        (i) => readTag(nc, tags[target(i)]!, 20),
      );
      tagReads.push({ streamMessages: size, ...tagged });
    }

    const result: BenchResult = {
      date: new Date().toISOString(),
      quick,
      machine: {
        cpus: cpus().length,
        cpuModel: cpus()[0]?.model.trim() ?? "unknown",
        memoryGb: Math.round(totalmem() / 1024 ** 3),
        node: process.version,
        natsServer: execFileSync(process.env.NATS_SERVER_BIN!, ["--version"], { encoding: "utf8" })
          .replace(/^nats-server:\s*/, "")
          .trim(),
        os: type(),
      },
      saves,
      saveLatency,
      serviceDuringSaves: { ...duringSaves, peakRssMbAt256 },
      firstSave,
      reads,
      readGrowth: round(reads.at(-1)!.service.p50 / reads[0]!.service.p50, 2),
      tagReads,
      tagReadGrowth: round(tagReads.at(-1)!.service.p50 / tagReads[0]!.service.p50, 2),
      conditional,
      conditionalR3,
      fullRead,
      fullReadDirect,
      version,
      append,
      transact,
      projection,
    };
    const table = markdown(result);
    process.stdout.write(table);
    mkdirSync(out, { recursive: true });
    const name = quick ? "quick" : "latest";
    writeFileSync(join(out, `${name}.json`), JSON.stringify(result, null, 2) + "\n");
    writeFileSync(join(out, `${name}.svg`), svg(result));
    if (!quick && !process.env.BENCH_OUT) writeDocs(table, targets(result));
  } finally {
    floor?.kill("SIGTERM");
    await nc.close();
    await service.stop();
    await server.stop();
  }
}

/** An ordered projection's throughput beside raw consumers, over a stream of its own. */
async function projections(nc: NatsConnection, js: JetStreamClient, jsm: JetStreamManager): Promise<ProjectionBench> {
  log(`projection throughput over ${plan.projectionEvents} events, beside raw consumers, ${PROJECTION_ROUNDS} rounds`);
  await jsm.streams.add({ name: "PROJ", subjects: ["PROJ.events.>"] });
  await fill(js, "PROJ", plan.projectionEvents);
  const client = new EventStoreClient(nc, { stream: "PROJ" });
  const rounds = [];
  for (let i = 0; i < PROJECTION_ROUNDS; i++) rounds.push(await projectionRound(client, js, jsm, "PROJ", plan.projectionEvents));
  await jsm.streams.delete("PROJ");
  const m = {
    projection: median(rounds.map((r) => r.projection)),
    rawPull: median(rounds.map((r) => r.rawPull)),
    rawOrdered: median(rounds.map((r) => r.rawOrdered)),
  };
  return {
    events: plan.projectionEvents,
    rounds,
    median: m,
    ratioPull: round(m.projection / m.rawPull),
    ratioOrdered: round(m.projection / m.rawOrdered),
  };
}

const actors = (n: number) => Array.from({ length: n }, () => `bench-${randomUUID()}`);

/** The runs of the median pair, and the median ratios with their range. */
/**
 * Conditional appends beside saves on a replicated stream (3 nodes, 3 replicas), where nats-server
 * stages an atomic batch in memory, not in a file store of its own as on a single node.
 */
async function conditionalOnCluster(): Promise<ConditionalBench> {
  const cluster = await startNatsCluster(3);
  try {
    const service = await startServiceProcess(cluster.urls, {
      LOG_LEVEL: "info",
      EVENTSTORE_STREAM: EVENTS.stream,
      EVENTSTORE_REPLICAS: "3",
      ...serviceEnv,
    });
    const nc = await connect({ servers: cluster.urls, noAsyncTraces: true });
    try {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: "RAWBATCH", subjects: ["RAWBATCH.>"], allow_direct: true, allow_atomic: true, num_replicas: 3 });
      await cluster.replicasCurrent("RAWBATCH");
      await cluster.replicasCurrent(EVENTS.stream);
      return await conditionalVersusSaves(nc, "RAWBATCH", plan.conditional.rounds, plan.conditional.ops, 64);
    } finally {
      await nc.close();
      await service.stop();
    }
  } finally {
    await cluster.stop();
  }
}

function saveRow(concurrency: number, pairs: SavePair[]): SaveRow {
  const ratios = pairs.map((p) => p.ratio);
  const p50Ratios = pairs.map((p) => p.p50Ratio);
  const mid = pairs[medianIndex(ratios)]!;
  return {
    concurrency,
    pairs,
    limit: mid.limit,
    service: mid.service,
    ratio: mid.ratio,
    ratioRange: [Math.min(...ratios), Math.max(...ratios)],
    floorRatio: median(pairs.map((p) => p.floorRatio)),
    p50Ratio: median(p50Ratios),
    p50RatioRange: [Math.min(...p50Ratios), Math.max(...p50Ratios)],
    cpuUsPerSave: median(pairs.map((p) => p.serviceCpuUsPerSave)),
  };
}

/** Reads the whole actor every way in each round, in turn; compares the medians. */
async function compareFullReads(
  client: EventStoreClient,
  js: JetStreamClient,
  jsm: JetStreamManager,
  actorId: string,
  events: number,
  rounds: number,
): Promise<FullRead> {
  const subject = EVENTS.events(actorId);
  const ms = { service: [] as number[], orderedConsumer: [] as number[], batchDirectGets: [] as number[] };
  for (let i = 0; i < rounds; i++) {
    ms.service.push(await fullReads.service(client, actorId, events));
    ms.orderedConsumer.push(await fullReads.orderedConsumer(js, EVENTS.stream, subject, events));
    ms.batchDirectGets.push(await fullReads.batchDirectGets(jsm, EVENTS.stream, subject, events));
  }
  return fullReadMedians(events, ms);
}

/** The medians of each way's full reads, and the service's beside the fastest raw way. */
function fullReadMedians(events: number, ms: { service: number[]; orderedConsumer: number[]; batchDirectGets: number[] }): FullRead {
  const serviceMs = median(ms.service);
  const orderedConsumerMs = median(ms.orderedConsumer);
  const batchDirectGetsMs = median(ms.batchDirectGets);
  return {
    events,
    serviceMs,
    orderedConsumerMs,
    batchDirectGetsMs,
    fastestRaw: orderedConsumerMs <= batchDirectGetsMs ? "ordered consumer" : "batch direct gets",
    ratio: round(serviceMs / Math.min(orderedConsumerMs, batchDirectGetsMs), 2),
  };
}

/**
 * Creates the FALLBACK streams before the service starts on them (it takes them as they are): the
 * events stream allows one consumer, and a durable holds it, so every long read of the service
 * takes the direct-get fallback (after one failed create; then the consumer path is paused).
 */
async function fallbackStreams(jsm: JetStreamManager): Promise<void> {
  const settings = { subjects: FALLBACK, replicas: 1, snapshotsKeep: 1, atomicBatch: true };
  await jsm.streams.add({ ...eventsStreamConfig(settings), max_consumers: 1 });
  await jsm.streams.add(snapshotsStreamConfig(settings));
  await jsm.consumers.add(FALLBACK.stream, { durable_name: "holder", ack_policy: AckPolicy.Explicit });
}

/**
 * Full reads of an actor as big as `rawActorId` in EVENTS, through a service on FALLBACK, in turn
 * with an ordered consumer of `rawActorId` (FALLBACK has no consumer to spare) and batch direct
 * gets of the FALLBACK actor; compares the medians. The service must already serve FALLBACK.
 */
async function compareDirectReads(
  nc: NatsConnection,
  js: JetStreamClient,
  jsm: JetStreamManager,
  rawActorId: string,
): Promise<FullReadDirect> {
  const client = new EventStoreClient(nc, { stream: FALLBACK.stream });
  const actorId = await bigActor(nc, plan.bigActor);
  const events = plan.bigActor;
  const ms = { service: [] as number[], orderedConsumer: [] as number[], batchDirectGets: [] as number[] };
  for (let i = 0; i < plan.fullReadRounds; i++) {
    ms.service.push(await fullReads.service(client, actorId, events));
    ms.orderedConsumer.push(await fullReads.orderedConsumer(js, EVENTS.stream, EVENTS.events(rawActorId), events));
    ms.batchDirectGets.push(await fullReads.batchDirectGets(jsm, FALLBACK.stream, FALLBACK.events(actorId), events));
  }
  return fullReadMedians(events, ms);
}

const KEPT_FROM = "## Where a save's time goes";

/** Written into docs/benchmarks.md by every full run, above the figures. */
const HOW_TO_READ = [
  "## How to read the ratios",
  "",
  "Every ratio sets the service beside JetStream doing the same work for the same client library",
  "(`@nats-io/jetstream`), in the same run, on the same nats-server. Most of what the machine and",
  "its other load do to both divides out: absolute figures do not carry over from one machine or",
  "one day to another, ratios mostly do. Compare a change by its ratios in runs made the same day.",
  "",
  "- **Save throughput** (`ratio`): saves per second through the service / publishes per second",
  "  with the same expectation (`Nats-Expected-Last-Subject-Sequence`), the fastest a correct save",
  "  can go. Each concurrency runs three rounds, limit then service then floor service, in turn,",
  "  after a warm-up of each way; the table shows the median pair and the range of all pairs. A",
  "  wide range means something else took the cores during some runs: run again before reading",
  "  anything into a difference inside that range.",
  "- **Floor service** (`bench/floor-service.ts`): a process that takes the same save requests,",
  "  publishes each one's bytes with the same headers and replies with JetStream's ack, and does",
  "  nothing else (no validation, no decision, no retry answered). Its ratio is what the extra hop",
  "  through a service on nats.js allows on this machine at that moment, whatever the service does.",
  "- **Latencies** (`p50 ratio`, `p99 ratio`): service / the raw operation that fetches or stores",
  "  the same messages, one call of each at a time, taking turns call by call: a save / a publish",
  "  with the expectation (and a save through the floor service, in the same turns); `version` / a",
  "  direct get of the subject's last message; a 20-event read / one",
  "  batch direct get of the same 20 messages from the first one's sequence. 1× would mean the",
  "  service costs nothing; a request through the service crosses nats-server twice as often as the",
  "  raw one (caller to service, service to JetStream and back, reply), so about 2× is what that",
  "  hop costs when the work itself is small. Below 1× for 20-event reads in a big stream: the",
  "  batch get steps through the stream for the next message on the subject, where the service",
  "  fetches known sequences. p99 ratios rest on a few slow calls and move more.",
  "- **Service CPU per save**: the service process's CPU time (user + system, from /proc) over a",
  "  run of saves / the saves in it, median of the pairs: what the service itself spends on a save.",
  "- **v3**: a read of a tag carried by 20 events (each of another actor, spread through the stream",
  "  like the 20-event actors) / direct gets of the same 20 messages by sequence, all in flight at",
  "  once, at every stream size; a conditional append (one event of a new actor, tagged with a new",
  "  tag, on the condition that no event carries that tag) / a save of a new actor, at 1 in flight",
  "  in turn and at 64 in flight in three pairs of runs.",
  "- **Appends and transactions**: events per second through the service at 32 in flight, each",
  "  request one atomic batch (an append: one actor; a transaction: several, with an expectation on",
  "  each actor's first message); no raw counterpart is measured. Transactions are sent with the",
  "  typed client's `transact`; no two in flight share an actor, so none conflicts.",
  "- **Full read**: an actor's 10,000 events through the service, every page, as the client's",
  "  `events` iterator reads them / the faster of an ordered consumer on the actor's subject and",
  "  batch direct gets. Every way ends with each event parsed from its message body (no headers",
  "  read), as the client hands them over; medians of seven rounds taken in turn. Target: <= 1.2×.",
  "  The same read is measured again against a stream at its consumer limit, where the service",
  "  reads long pages through batch direct gets (its fallback when no consumer can be created),",
  "  beside the same raw reads taken in turn; no target, it is the slower way that keeps reads up.",
  "",
];

function writeDocs(table: string, goals: string): void {
  const doc = [
    "# Benchmarks",
    "",
    "Produced by `npm run bench` (bench/run.ts): one nats-server (file storage, single node) and the",
    "service as a separate process, both started by the benchmark, with ~200-byte events. The limit is",
    "a JetStream publish with `Nats-Expected-Last-Subject-Sequence` (and the same headers) from the",
    "same client library at the same concurrency, measured in the same run. The client, the service",
    "and nats-server share the machine's cores.",
    "",
    ...HOW_TO_READ,
    table,
    "![throughput and p99 per concurrency](../bench/results/latest.svg)",
    "",
    "## Against the targets (issues 5, 26 and 27: ratios to the raw operation of the same run)",
    "",
    goals,
    "## What is in the way where a target is missed (profiles taken with `node --cpu-prof`)",
    "",
    '- Saves: see "Where a save\'s time goes" below (issue 27). On this 2-core machine the ratio at 16',
    "  in flight is the ratio of the CPU that the three processes (load generator, nats-server,",
    "  service) spend per save, to within 0.03 in three of four runs (0.08 in the fourth), and the service's own is the largest share.",
    "  0.6 there needs the service within about 15 µs of the floor service's CPU per save; it is",
    "  about 35 µs above it. nats-server's extra messages cost it about 10 µs a save.",
    "- Full reads: a page of 200 events or more is read through a short-lived consumer filtered to",
    "  the actor's subject (no acks, in memory, deleted after the page). Its deliveries carry their",
    "  stream sequence in the ack subject, so no header block is decoded. Before, every event came",
    "  as a message of a batch direct get with six headers that nats.js decodes into a map, which was",
    "  most of the service's CPU in a full read. On 2026-12-02, full runs of both builds taken in",
    "  turn (`npm run bench`, then the build before the change in another worktree): 2.11× and",
    "  2.40× before, 1.36× and 1.13× after (the table below is the second). What remains is the hop",
    "  (the page crosses nats-server once more and is parsed as one reply) and one consumer created",
    "  and deleted per page. Reads of fewer events still use batch direct gets: creating and deleting a consumer",
    "  costs more than the headers of a few messages.",
    "- 20-event read p99: occasional outliers of about 10 ms at every stream size; the p50 stays flat",
    "  from 10k to 1M messages, because reads fetch by known sequence instead of scanning for the subject.",
    "- Conditional appends: each is an atomic batch (the event and its tag link), and on a single-node",
    "  file stream nats-server stages every atomic batch in a file store of its own before the commit",
    '  (`newBatchStore` for R1 file streams; R3 stages in memory): the row "nats-server: atomic batch',
    "  of 2 messages\" measures that beside a publish, with no service involved. The service's own",
    "  share is the conditional append's ratio divided by that one (docs/design/v3-tags-read-conditions.md,",
    "  section 5).",
    "",
    "",
    "Raw figures: `bench/results/latest.json`.",
    "",
    ...keptSections(),
  ].join("\n");
  writeFileSync(join(root, "docs", "benchmarks.md"), doc);
}

/** The doc's hand-written sections (from "## Where a save's time goes" on), which a run keeps as they are. */
function keptSections(): string[] {
  const path = join(root, "docs", "benchmarks.md");
  const text = existsSync(path) ? readFileSync(path, "utf8") : "";
  const at = text.indexOf(KEPT_FROM);
  return at < 0 ? [] : [text.slice(at)];
}

main().catch((err: unknown) => {
  process.stderr.write(`benchmark failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
