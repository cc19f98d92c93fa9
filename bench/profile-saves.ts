// Where a save's time goes (issue 27; docs/benchmarks.md, "Where a save's time goes").
//   node dist/bench/profile-saves.js [in flight, default 64] [saves per run, default 20000] [rounds, default 2]
// One nats-server (file storage, monitoring port), the service as its own process, and this
// process as the load generator. Each round runs, in turn: the raw publish with the same
// expectation, saves through the service, and two echo responders in a process of their own (a
// plain queue subscription, and an endpoint of the micro service library), which show what the
// extra hop and the library cost without any store work; and the floor service (floor-service.ts),
// the least a save service on nats.js can do. Per run it prints, per save: the CPU of
// each process (from /proc/<pid>/stat), the messages nats-server counted (/varz and, per
// connection, /connz), and, when `perf` is installed, the system calls of the process that answers
// (the service, the echo process; the load generator for the raw publish).
// PROFILE_CPU=dir runs the service and the floor service with `node --cpu-prof`: their profiles are written to dir when they stop.
// PROFILE_RUNS=service,raw runs only those (of raw, service, echo.plain, echo.micro, floor).
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { findNatsServer } from "../src/server/nats/local-server.js";
import { freePort, startNatsServer } from "../test/harness/nats-server.js";
import { stopProcess, track } from "../test/harness/processes.js";
import { MAIN, ROOT } from "../test/harness/service-process.js";
import { FLOOR_SUBJECT, imageNodeOptions, round, startFloorService } from "./measure.js";
import { call, limitSaves, serviceSaves } from "./scenarios.js";

const inFlight = Number(process.argv[2] ?? 64);
const saves = Number(process.argv[3] ?? 20_000);
const rounds = Number(process.argv[4] ?? 2);
const ACTORS = 1000;
const only = (process.env.PROFILE_RUNS ?? "").split(",").filter(Boolean);
const cpuProfileDir = process.env.PROFILE_CPU;
const nodeArgs = cpuProfileDir ? ["--cpu-prof", `--cpu-prof-dir=${cpuProfileDir}`] : [];
// The floor runs with the node options the image gives the service, as the service does.
const floorNodeArgs = [...imageNodeOptions().split(" "), ...nodeArgs];
// Each kind of system call the service makes around a save: a turn of its event loop is one epoll wait.
const SYSCALLS = ["epoll_pwait", "epoll_wait", "read", "write", "writev"];

/** CPU seconds a process has used, all its threads (utime + stime, in ticks of 1/100 s). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

interface ConnCounters {
  name: string;
  in_msgs: number;
  out_msgs: number;
  in_bytes: number;
  out_bytes: number;
}

async function monitor(port: number) {
  const get = async <T>(path: string): Promise<T> => (await fetch(`http://127.0.0.1:${port}${path}`)).json() as Promise<T>;
  const varz = await get<{ in_msgs: number; out_msgs: number }>("/varz");
  const connz = await get<{ connections: (ConnCounters & { cid: number })[] }>("/connz?limit=1000");
  return { varz, conns: new Map(connz.connections.map((c) => [c.cid, c])) };
}

/** Counts the given system calls of a process until stop() (perf's syscall tracepoints), or nothing without perf. */
function countSyscalls(pid: number): { stop(): Promise<Record<string, number>> } {
  if (!existsSync("/usr/bin/perf")) return { stop: async () => ({}) };
  const events = SYSCALLS.map((s) => `syscalls:sys_enter_${s}`).join(",");
  const perf = spawn("perf", ["stat", "-x", ",", "-e", events, "-p", String(pid)], { stdio: ["ignore", "ignore", "pipe"] });
  let text = "";
  perf.stderr.on("data", (d: Buffer) => (text += d.toString()));
  return {
    stop: () =>
      new Promise((resolve) => {
        perf.once("exit", () => {
          const counts: Record<string, number> = {};
          for (const line of text.split("\n")) {
            const [value, , event] = line.split(",");
            const m = /sys_enter_(\w+)/.exec(event ?? "");
            if (m && Number(value) > 0) counts[m[1]!] = Number(value);
          }
          resolve(counts);
        });
        perf.kill("SIGINT");
      }),
  };
}

/** The built service as its own process (with node's CPU profiler when asked), once it serves. */
async function startService(url: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [...nodeArgs, MAIN], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", NATS_URL: url, LOG_LEVEL: "info", NODE_OPTIONS: imageNodeOptions() },
    stdio: ["ignore", "pipe", "inherit"],
  });
  track(child);
  await new Promise<void>((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes('"msg":"service started"')) resolve();
    });
    child.once("exit", (c) => reject(new Error(`the service exited with ${c}: ${out}`)));
  });
  return child;
}

/** Two echo responders, each answering a request with its own payload, in a process of their own. */
async function startEchoes(url: string): Promise<ChildProcess> {
  const code = `
    import { connect } from "@nats-io/transport-node";
    import { Svcm } from "@nats-io/services";
    const nc = await connect({ servers: ${JSON.stringify(url)}, name: "echo" });
    nc.subscribe("echo.plain", { queue: "q", callback: (_e, m) => m.respond(m.data) });
    const svc = await new Svcm(nc).add({ name: "echo", version: "0.0.1", queue: "q" });
    svc.addEndpoint("micro", { subject: "echo.micro", handler: (_e, m) => m.respond(m.data) });
    await nc.flush();
    process.stdout.write("ready\\n");`;
  const child = spawn(process.execPath, ["--input-type=module", "-e", code], { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once("data", () => resolve());
    child.once("exit", (c) => reject(new Error(`the echo process exited with ${c}`)));
  });
  return child;
}

async function main(): Promise<void> {
  process.env.NATS_SERVER_BIN ??= findNatsServer();
  const httpPort = await freePort();
  const server = await startNatsServer({ config: `max_payload: 1MB\nhttp_port: ${httpPort}` });
  const service = await startService(server.url);
  const echoes = await startEchoes(server.url);
  const nc = await connect({ servers: server.url, noAsyncTraces: true, name: "loadgen" });
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: "LIMIT", subjects: ["LIMIT.events.>"], allow_direct: true });
  await jsm.streams.add({ name: "FLOOR", subjects: ["FLOOR.events.>"], allow_direct: true });
  const floor = await startFloorService(server.url, "FLOOR", floorNodeArgs);
  const actors = (tag: string) => Array.from({ length: ACTORS }, (_, i) => `${tag}-${i}`);
  const pids = { service: service.pid!, server: server.process.pid!, echo: echoes.pid!, floor: floor.pid!, loadgen: process.pid };
  const payload = new TextEncoder().encode(JSON.stringify({ pad: "x".repeat(190) }));
  const echo = (subject: string) => async () => {
    const start = performance.now();
    const latencies: number[] = [];
    await Promise.all(
      Array.from({ length: inFlight }, async (_, w) => {
        for (let i = w; i < saves; i += inFlight) {
          const t = performance.now();
          await nc.request(subject, payload, { timeout: 30_000 });
          latencies.push(performance.now() - t);
        }
      }),
    );
    latencies.sort((a, b) => a - b);
    return { opsPerSec: Math.round(saves / ((performance.now() - start) / 1000)), p50: round(latencies[latencies.length >> 1]!) };
  };
  const runs: Record<string, { pid: number; run: (round: number) => Promise<{ opsPerSec: number; p50: number }> }> = {
    raw: { pid: pids.server, run: (r) => limitSaves(js, "LIMIT", inFlight, saves, actors(`raw${r}`)) },
    service: { pid: pids.service, run: (r) => serviceSaves(nc, inFlight, saves, actors(`svc${r}`)) },
    "echo.plain": { pid: pids.echo, run: echo("echo.plain") },
    "echo.micro": { pid: pids.echo, run: echo("echo.micro") },
    floor: { pid: pids.floor, run: (r) => serviceSaves(nc, inFlight, saves, actors(`floor${r}`), FLOOR_SUBJECT) },
  };
  try {
    // Warm up every path (JIT, the service's actor cache is per actor, so each round uses new actors).
    await limitSaves(js, "LIMIT", inFlight, 2000, actors("warm"));
    await serviceSaves(nc, inFlight, 2000, actors("warm"));
    await call(nc, "echo.plain", {});
    await serviceSaves(nc, inFlight, 2000, actors("warm"), FLOOR_SUBJECT);
    for (let r = 1; r <= rounds; r++) {
      for (const [name, { pid, run }] of Object.entries(runs).filter(([name]) => only.length === 0 || only.includes(name))) {
        // The raw publish has no service: count the load generator's calls then.
        const syscalls = countSyscalls(name === "raw" ? pids.loadgen : pid);
        // perf attaches to the process's threads some time after it starts.
        await new Promise((r) => setTimeout(r, 500));
        const before = await monitor(httpPort);
        const cpu0 = Object.fromEntries(Object.entries(pids).map(([k, p]) => [k, cpuSeconds(p)]));
        const result = await run(r);
        const cpu1 = Object.fromEntries(Object.entries(pids).map(([k, p]) => [k, cpuSeconds(p)]));
        const after = await monitor(httpPort);
        const calls = await syscalls.stop();
        const perSave = (n: number) => round(n / saves, 2);
        const cpuUs = Object.fromEntries(Object.keys(pids).map((k) => [k, Math.round(((cpu1[k]! - cpu0[k]!) * 1e6) / saves)]));
        const conns: Record<string, Omit<ConnCounters, "name">> = {};
        for (const [cid, c] of after.conns) {
          const b = before.conns.get(cid);
          const d = {
            in_msgs: perSave(c.in_msgs - (b?.in_msgs ?? 0)),
            out_msgs: perSave(c.out_msgs - (b?.out_msgs ?? 0)),
            in_bytes: Math.round((c.in_bytes - (b?.in_bytes ?? 0)) / saves),
            out_bytes: Math.round((c.out_bytes - (b?.out_bytes ?? 0)) / saves),
          };
          if (d.in_msgs + d.out_msgs > 0.01) conns[`${c.name || "?"}#${cid}`] = d;
        }
        const line = {
          round: r,
          run: name,
          inFlight,
          saves,
          ...result,
          cpuUsPerSave: cpuUs,
          server: {
            in_msgs: perSave(after.varz.in_msgs - before.varz.in_msgs),
            out_msgs: perSave(after.varz.out_msgs - before.varz.out_msgs),
          },
          conns,
          syscallsPerSave: {
            of: name === "raw" ? "loadgen" : name.split(".")[0],
            ...Object.fromEntries(Object.entries(calls).map(([k, v]) => [k, perSave(v)])),
          },
        };
        process.stdout.write(`${JSON.stringify(line)}\n`);
      }
    }
  } finally {
    await nc.close();
    echoes.kill("SIGTERM");
    floor.kill("SIGTERM");
    await stopProcess(service);
    await server.stop();
  }
}

await main();
