#!/usr/bin/env node
// How much does a flood of invalid requests slow the valid ones down?
//
//   npm run build && node scripts/flood.mjs [seconds per phase, default 5] [valid callers, default 4]
//   EVENTSTORE_MAX_REQUEST_BYTES=65536 node scripts/flood.mjs     (EVENTSTORE_* reach the service)
//
// Starts its own nats-server (scripts/get-nats-server.sh) and service (dist/src/main.js), then runs
// one phase without flood and one per kind of invalid request. In every phase the same valid load
// runs (callers saving one event after another, each to its own actor); in the flood phases a
// separate process keeps 64 invalid requests in flight on eventstore.save. Prints, per phase, the
// valid saves per second and their latency percentiles, how many valid saves failed or timed out
// (each is retried with the same event id), the invalid requests answered per second, and how
// often nats-server cut the service off as a slow consumer. docs/security.md has the figures.

import { execFileSync, fork, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { connect } from "@nats-io/transport-node";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const FLOOD_IN_FLIGHT = 64;

/** The invalid requests, each cheap or expensive in its own way for the service. */
function floodPayload(kind) {
  switch (kind) {
    case "small": // fails the schema: the common case of a buggy or hostile caller
      return JSON.stringify({ id: "x", eventType: "T", actorId: "order-1", version: -1, data: {} });
    case "garbage": // not JSON at all
      return "\u0000not json".repeat(8);
    case "deep": // 100,000 levels of nesting: a full JSON.parse, refused by the depth check
      return "[".repeat(100_000) + "]".repeat(100_000);
    case "wide": // ~1 MB of valid JSON that fails the schema only after a full parse
      return JSON.stringify({ id: "x", eventType: "T", actorId: "order-1", version: 1, data: {}, extra: Array(110_000).fill(1234567) });
    case "oversized": // just under max_payload: refused on its size before any parsing
      return "x".repeat(1024 * 1024 - 64);
    default:
      throw new Error(`unknown flood kind ${kind}`);
  }
}

const PHASES = [
  ["no flood", undefined],
  ["small invalid requests", "small"],
  ["bytes that are not JSON", "garbage"],
  ["100,000-level nesting (200 KB)", "deep"],
  ["~1 MB JSON that fails the schema", "wide"],
  ["bodies over the request limit (1 MB)", "oversized"],
];

async function flooder(url, kind) {
  const nc = await connect({ servers: url });
  const payload = new TextEncoder().encode(floodPayload(kind));
  let answered = 0;
  let stop = false;
  process.on("message", (m) => {
    if (m === "stop") stop = true;
  });
  const loop = async () => {
    while (!stop) {
      try {
        await nc.request("eventstore.save", payload, { timeout: 10_000 });
        answered++;
      } catch {
        // a timeout under overload still counts as not answered
      }
    }
  };
  process.send("ready");
  await Promise.all(Array.from({ length: FLOOD_IN_FLIGHT }, loop));
  process.send({ answered });
  await nc.close();
  // the IPC channel would keep this process alive
  process.disconnect();
}

function percentile(sorted, p) {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

const VALID_TIMEOUT_MS = 5000;

/** Saves from `callers` loops for `seconds`; a save that fails or times out is retried with the same id. */
async function validLoad(nc, seconds, callers) {
  const latencies = [];
  const failures = {};
  const deadline = Date.now() + seconds * 1000;
  const caller = async () => {
    const actorId = `order-${randomUUID()}`;
    for (let version = 1; Date.now() < deadline; version++) {
      const body = JSON.stringify({ id: randomUUID(), eventType: "T", actorId, version, data: { n: version } });
      for (;;) {
        const start = performance.now();
        let failure;
        try {
          const msg = await nc.request("eventstore.save", body, { timeout: VALID_TIMEOUT_MS });
          failure = msg.headers?.get("Nats-Service-Error-Code");
        } catch (err) {
          failure = err.name;
        }
        if (!failure) {
          latencies.push(performance.now() - start);
          break;
        }
        failures[failure] = (failures[failure] ?? 0) + 1;
        if (Date.now() > deadline) break;
      }
    }
  };
  await Promise.all(Array.from({ length: callers }, caller));
  latencies.sort((a, b) => a - b);
  return {
    perSecond: latencies.length / seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    max: latencies.at(-1),
    failures,
  };
}

async function freePort() {
  return new Promise((resolve) => {
    const srv = createServer().listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function waitFor(child, text, what) {
  let seen = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not start: ${seen}`)), 20_000);
    const onData = (d) => {
      seen += d.toString();
      if (seen.includes(text)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("exit", (code) => reject(new Error(`${what} exited with ${code}: ${seen}`)));
  });
}

async function main() {
  const seconds = Number(process.argv[2] ?? 5);
  const callers = Number(process.argv[3] ?? 4);
  const bin =
    process.env.NATS_SERVER_BIN || execFileSync("bash", [join(root, "scripts", "get-nats-server.sh")], { encoding: "utf8" }).trim();
  const dir = mkdtempSync(join(tmpdir(), "es-flood-"));
  const port = await freePort();
  const conf = join(dir, "server.conf");
  writeFileSync(conf, `host: 127.0.0.1\nport: ${port}\njetstream { store_dir: ${JSON.stringify(join(dir, "js"))} }\n`);
  const url = `nats://127.0.0.1:${port}`;
  const server = spawn(bin, ["-c", conf], { stdio: ["ignore", "pipe", "pipe"] });
  const service = spawn(process.execPath, [join(root, "dist", "src", "main.js")], {
    // EVENTSTORE_* settings (EVENTSTORE_MAX_REQUEST_BYTES, ...) pass through to compare limits
    env: {
      ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith("EVENTSTORE_"))),
      PATH: process.env.PATH,
      NATS_URL: url,
      LOG_LEVEL: "warn",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const children = [server, service];
  let serviceLog = "";
  let slowConsumer = 0;
  server.stderr.on("data", (d) => (slowConsumer += (d.toString().match(/Slow Consumer/g) ?? []).length));
  let disconnects = 0;
  service.stdout.on("data", (d) => {
    serviceLog = (serviceLog + d.toString()).slice(-4000);
    disconnects += (d.toString().match(/"status":"disconnect"/g) ?? []).length;
  });
  service.stderr.on("data", (d) => (serviceLog = (serviceLog + d.toString()).slice(-4000)));
  try {
    await waitFor(server, "Server is ready", "nats-server");
    // at LOG_LEVEL=warn the service prints nothing when it starts: ask until it answers
    const nc = await connect({ servers: url });
    for (let i = 0; ; i++) {
      try {
        await nc.request("$SRV.PING.eventstore", "", { timeout: 500 });
        break;
      } catch (err) {
        if (i > 40) throw err;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    console.log(`nats-server ${url}; ${callers} valid callers; ${seconds} s per phase; ${FLOOD_IN_FLIGHT} invalid requests in flight`);
    const rows = [];
    for (const [name, kind] of PHASES) {
      let flood;
      if (kind) {
        flood = fork(fileURLToPath(import.meta.url), ["--flood", url, kind], { stdio: "inherit" });
        children.push(flood);
        await new Promise((r) => flood.once("message", r));
      }
      const [slowBefore, disconnectsBefore] = [slowConsumer, disconnects];
      const valid = await validLoad(nc, seconds, callers);
      let floodPerSecond = 0;
      if (flood) {
        const done = new Promise((r) => flood.on("message", (m) => typeof m === "object" && r(m)));
        flood.send("stop");
        floodPerSecond = (await done).answered / seconds;
        await new Promise((r) => flood.once("exit", r));
      }
      rows.push({
        phase: name,
        "valid saves/s": Math.round(valid.perSecond),
        "p50 ms": valid.p50.toFixed(2),
        "p99 ms": valid.p99.toFixed(2),
        "max ms": valid.max.toFixed(1),
        "invalid answered/s": Math.round(floodPerSecond),
        "valid failed (retried)":
          Object.entries(valid.failures)
            .map(([k, n]) => `${n} ${k}`)
            .join(", ") || "0",
        "service disconnected (slow consumer)": `${disconnects - disconnectsBefore} (${slowConsumer - slowBefore})`,
      });
      console.log(JSON.stringify(rows.at(-1)));
    }
    console.table(rows);
    await nc.close();
  } catch (err) {
    console.error(`the service said:\n${serviceLog}`);
    throw err;
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === "--flood") {
  await flooder(process.argv[3], process.argv[4]);
} else {
  await main();
}
