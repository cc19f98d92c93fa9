// npm run bench: the service against the raw JetStream limit, measured in one run on one machine.
// BENCH_QUICK=1 runs small counts (for CI: proves the benchmark still works, asserts nothing).
// BENCH_OUT=dir writes the results there instead of bench/results (and leaves docs/ alone).
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, totalmem, type } from "node:os";
import { join } from "node:path";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { packageRoot } from "../src/paths.js";
import { findNatsServer } from "../src/nats/local-server.js";
import { startNatsServer } from "../test/harness/nats-server.js";
import { startServiceProcess } from "../test/harness/service-process.js";
import { ProcessSampler, round } from "./measure.js";
import { type BenchResult, markdown, type SaveRow, svg, targets } from "./report.js";
import {
  appends,
  bigActor,
  firstVersusKnown,
  fullRead,
  growWithTargets,
  limitSaves,
  serviceSaves,
  streamMessages,
  timedCalls,
} from "./scenarios.js";

const quick = process.env.BENCH_QUICK === "1";
// nats-server stages each atomic batch before its commit (a few ms on file storage), so appends
// need more in flight than saves to show their throughput; the server caps batches in flight per stream.
const APPEND_IN_FLIGHT = 32;
const root = packageRoot();
const out = process.env.BENCH_OUT ?? join(root, "bench", "results");
const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);

const plan = quick
  ? { concurrency: [1, 16, 64, 256], ops: [300, 2000, 3000, 3000], actors: 1024, firstSave: 100, readStages: [3_000, 10_000, 30_000], targets: 5, reads: 50, bigActor: 2_000, versionCalls: 100, appendBatches: 200 }
  : { concurrency: [1, 16, 64, 256], ops: [3000, 20000, 40000, 40000], actors: 2048, firstSave: 1000, readStages: [30_000, 300_000, 1_000_000], targets: 20, reads: 400, bigActor: 10_000, versionCalls: 1000, appendBatches: 2000 };

async function main(): Promise<void> {
  process.env.NATS_SERVER_BIN ??= findNatsServer();
  const server = await startNatsServer({ config: "max_payload: 1MB" });
  let service = await startServiceProcess(server.url, { LOG_LEVEL: "info" }).catch(async (err: unknown) => {
    await server.stop();
    throw err;
  });
  const nc = await connect({ servers: server.url, noAsyncTraces: true });
  try {
    const js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "LIMIT", subjects: ["LIMIT.events.>"], allow_direct: true });
    const sampler = new ProcessSampler(service.process.pid!);

    const saves: SaveRow[] = [];
    let peakRssMbAt256 = 0;
    sampler.start();
    for (const [k, c] of plan.concurrency.entries()) {
      const n = plan.ops[k]!;
      const limitActors = Array.from({ length: plan.actors }, () => `bench-${randomUUID()}`);
      const serviceActors = Array.from({ length: plan.actors }, () => `bench-${randomUUID()}`);
      log(`saves at ${c} in flight: limit`);
      const limit = await limitSaves(js, "LIMIT", c, n, limitActors);
      log(`saves at ${c} in flight: service`);
      const inner = c === 256 ? new ProcessSampler(service.process.pid!) : undefined;
      inner?.start();
      const svc = await serviceSaves(nc, c, n, serviceActors);
      if (inner) peakRssMbAt256 = inner.stop().peakRssMb;
      saves.push({ concurrency: c, limit, service: svc, ratio: round(svc.opsPerSec / limit.opsPerSec) });
    }
    const duringSaves = sampler.stop();

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

    log("full read and version of big and small actors");
    const big = await bigActor(nc, plan.bigActor);
    const fullReads: number[] = [];
    for (let i = 0; i < 5; i++) fullReads.push(await fullRead(nc, big, plan.bigActor));
    const fullMs = fullReads.sort((a, b) => a - b)[2]!;
    const small = await bigActor(nc, 10);
    const version = [
      { events: 10, ...(await timedCalls(nc, plan.versionCalls, () => ({ actorId: small }), "eventstore.version")) },
      { events: plan.bigActor, ...(await timedCalls(nc, plan.versionCalls, () => ({ actorId: big }), "eventstore.version")) },
    ];

    // Reads run against a stream of their own, so that its size is exactly each stage's.
    await service.stop();
    service = await startServiceProcess(server.url, { LOG_LEVEL: "info", EVENTSTORE_STREAM: "READS" });
    const reads: BenchResult["reads"] = [];
    for (const stage of plan.readStages) {
      const have = await streamMessages(jsm, "READS");
      log(`growing the stream from ${have} to ${stage} messages`);
      const targets = await growWithTargets(nc, js, "READS", stage - have, plan.targets);
      const size = await streamMessages(jsm, "READS");
      log(`20-event reads in a stream of ${size}`);
      const r = await timedCalls(nc, plan.reads, (i) => ({ actorId: targets[i % targets.length] }), "eventstore.events");
      reads.push({ streamMessages: size, ...r });
    }

    const result: BenchResult = {
      date: new Date().toISOString(),
      quick,
      machine: {
        cpus: cpus().length,
        cpuModel: cpus()[0]?.model.trim() ?? "unknown",
        memoryGb: Math.round(totalmem() / 1024 ** 3),
        node: process.version,
        natsServer: execFileSync(process.env.NATS_SERVER_BIN!, ["--version"], { encoding: "utf8" }).replace(/^nats-server:\s*/, "").trim(),
        os: type(),
      },
      saves,
      serviceDuringSaves: { ...duringSaves, peakRssMbAt256 },
      firstSave,
      reads,
      readGrowth: round(reads.at(-1)!.p50 / reads[0]!.p50, 2),
      fullRead: { events: plan.bigActor, ms: fullMs, eventsPerSec: Math.round((plan.bigActor / fullMs) * 1000) },
      version,
      append,
    };
    const table = markdown(result);
    process.stdout.write(table);
    mkdirSync(out, { recursive: true });
    const name = quick ? "quick" : "latest";
    writeFileSync(join(out, `${name}.json`), JSON.stringify(result, null, 2) + "\n");
    writeFileSync(join(out, `${name}.svg`), svg(result));
    if (!quick && !process.env.BENCH_OUT) writeDocs(table, targets(result));
  } finally {
    await nc.close();
    await service.stop();
    await server.stop();
  }
}

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
    table,
    "![throughput and p99 per concurrency](../bench/results/latest.svg)",
    "",
    "## Against the targets (issue 5, this 2-core machine)",
    "",
    goals,
    "## What is in the way where a target is missed (profiles taken with `node --cpu-prof`)",
    "",
    "- Saves at 64 in flight: during that run the service process is about 70% idle; nats-server and",
    "  the load generator hold the two cores. A save through the service costs nats-server four",
    "  deliveries (request to the service, publish to the stream, ack back, reply to the caller)",
    "  where the direct publish costs two, so on two cores the ratio is bounded by the server's share;",
    "  it rises with concurrency as batching amortises it. The service's own CPU per save is about",
    "  40 µs (65 µs when JetStream calls went through nats.js `request()`, which builds an Error with",
    "  a stack trace for every request, even a successful one).",
    "- Full reads: each event arrives as its own message of a batch direct get, with the six headers",
    "  nats-server adds, and nats.js decodes every header block into a map: reading 10,000 events",
    "  in-process (no service hop) takes about 130 ms, 27% of it garbage collection. A larger young",
    "  generation (`NODE_OPTIONS=--max-semi-space-size=64`) made in-process full reads about 20%",
    "  faster in one measurement.",
    "- 20-event read p99: occasional outliers of about 10 ms at every stream size; the p50 stays flat",
    "  from 30k to 1M messages, because reads fetch by known sequence instead of scanning for the subject.",
    "",
    "",
    "Raw figures: `bench/results/latest.json`.",
    "",
  ].join("\n");
  writeFileSync(join(root, "docs", "benchmarks.md"), doc);
}

main().catch((err: unknown) => {
  process.stderr.write(`benchmark failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
