import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream, jetstreamManager, StorageType } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { stopProcess, track } from "./processes.js";
import { ROOT } from "./service-process.js";

const RUNNER = join(ROOT, "test", "harness", "projection-runner.mjs");

// The failover tests' settings: a pin TTL short enough for the takeovers to fit the CI budget, and
// a small batch. An ordered projection has at most twice its batch unacknowledged.
export const PIN_TTL_MS = 3000;
const BATCH = 64;
export const IN_FLIGHT = 2 * BATCH;

/** The environment of a runner of the projection `name` with the failover tests' settings. */
export function runnerEnv(name: string, mode = "ordered"): Record<string, string> {
  return { PROJECTION: name, MODE: mode, PIN_TTL_MS: String(PIN_TTL_MS), BATCH: String(BATCH) };
}

/** The environment of a runner of the README's read model (examples/order-totals.ts) with the failover tests' settings. */
export function readModelEnv(): Record<string, string> {
  return { READ_MODEL: "order-totals", PIN_TTL_MS: String(PIN_TTL_MS), BATCH: String(BATCH) };
}

export type RunnerLine =
  | { t: "started" | "standby" | "stopped" | "paused"; at: number }
  | { t: "active"; pin: string; epoch: number; at: number }
  | { t: "b"; s: number; at: number }
  | { t: "h"; s: number; at?: number }
  | { t: "failed"; s?: number; error: string };

/** A projection-runner.mjs process and every line it wrote. */
export interface Runner {
  readonly id: number;
  readonly child: ChildProcess;
  /** Every line it wrote so far. */
  lines(): RunnerLine[];
  /** The sequences it handled so far, in order. */
  handled(): number[];
  isActive(): boolean;
}

export async function startRunner(id: number, urls: string, env: Record<string, string>): Promise<Runner> {
  const record = join(mkdtempSync(join(tmpdir(), "es-proj-")), "record.ndjson");
  closeSync(openSync(record, "w"));
  const child = spawn(process.execPath, [RUNNER], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", NATS_URL: urls, RECORD: record, ...env },
    stdio: ["ignore", "inherit", "inherit"],
  });
  track(child);
  const lines: RunnerLine[] = [];
  const handled: number[] = [];
  const read = tail(record, (line) => {
    lines.push(line);
    if (line.t === "h") handled.push(line.s);
  });
  const alive = () => child.exitCode === null && child.signalCode === null;
  const runner: Runner = {
    id,
    child,
    lines: () => {
      read();
      return lines;
    },
    handled: () => {
      read();
      return handled;
    },
    isActive: () => alive() && lastState(runner.lines())?.t === "active",
  };
  await until(() => runner.lines().some((l) => l.t === "started") || !alive(), 20_000, "the runner to start");
  if (!alive()) throw new Error(`projection runner ${id} exited with ${child.exitCode ?? child.signalCode}`);
  return runner;
}

function lastState(lines: RunnerLine[]): RunnerLine | undefined {
  for (let i = lines.length - 1; i >= 0; i--) if (lines[i]!.t === "active" || lines[i]!.t === "standby") return lines[i];
  return undefined;
}

/** When the runner last became active (undefined: never). */
export function activeSince(runner: Runner): number | undefined {
  const last = lastState(runner.lines());
  return last?.t === "active" ? last.at : undefined;
}

/** A reader of the complete lines appended to the file since the last call. */
function tail(path: string, onLine: (line: RunnerLine) => void): () => void {
  const fd = openSync(path, "r");
  const buffer = Buffer.alloc(1 << 20);
  let partial = "";
  return () => {
    for (;;) {
      const n = readSync(fd, buffer, 0, buffer.length, null);
      if (n === 0) return;
      const text = partial + buffer.subarray(0, n).toString("utf8");
      const parts = text.split("\n");
      partial = parts.pop()!;
      for (const part of parts) onLine(JSON.parse(part) as RunnerLine);
    }
  };
}

export function stopRunner(runner: Runner, signal: NodeJS.Signals = "SIGTERM"): Promise<number | null> {
  return stopProcess(runner.child, signal);
}

export async function until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** How many distinct events the runners handled between them. */
export function handledCount(runners: Runner[]): number {
  return new Set(runners.flatMap((r) => r.handled())).size;
}

/** One process's time as the active one of an ordered projection: what it handled, in order. */
export interface Period {
  runner: number;
  pin: string;
  at: number;
  seqs: number[];
}

export function periods(runners: Runner[]): Period[] {
  const all: Period[] = [];
  for (const r of runners) {
    let current: Period | undefined;
    for (const line of r.lines()) {
      if (line.t === "active") {
        current = { runner: r.id, pin: line.pin, at: line.at, seqs: [] };
        all.push(current);
      } else if (line.t === "h") {
        if (!current) throw new Error(`runner ${r.id} handled ${line.s} before it was active`);
        current.seqs.push(line.s);
      }
    }
  }
  return all.sort((a, b) => a.at - b.at);
}

/**
 * What the failover tests require of an ordered projection's periods: within each, stream order
 * (nothing handled after a higher sequence); each continues where the ones before it got to, at
 * most `inFlight` events back (those unacknowledged when the previous active died); together
 * every one of 1..total. Returns the handled events counted twice.
 */
export function checkHandovers(all: Period[], total: number, inFlight: number): { duplicates: number; problems: string[] } {
  const problems: string[] = [];
  const seen = new Set<number>();
  let highest = 0;
  let duplicates = 0;
  for (const p of all) {
    p.seqs.forEach((s, i) => {
      if (i > 0 && s <= p.seqs[i - 1]!) problems.push(`runner ${p.runner} handled ${s} after ${p.seqs[i - 1]}`);
    });
    const first = p.seqs[0];
    if (first !== undefined && first > highest + 1) problems.push(`runner ${p.runner} began at ${first}, past ${highest + 1}`);
    const again = p.seqs.filter((s) => seen.has(s)).length;
    if (again > inFlight) problems.push(`runner ${p.runner} handled ${again} events again, more than the ${inFlight} in flight`);
    duplicates += again;
    for (const s of p.seqs) seen.add(s);
    highest = Math.max(highest, ...p.seqs);
  }
  const missing: number[] = [];
  for (let s = 1; s <= total; s++) if (!seen.has(s)) missing.push(s);
  if (missing.length > 0) problems.push(`${missing.length} events never handled, the first ${missing.slice(0, 5).join(",")}`);
  return { duplicates, problems };
}

/** A bare events stream (no service needed: projections read the stream directly). */
export async function createEventsStream(nc: NatsConnection, replicas = 1): Promise<void> {
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({
    name: "EVENTS",
    subjects: ["EVENTS.events.>"],
    storage: StorageType.File,
    num_replicas: replicas,
    allow_direct: true,
  });
}

/**
 * `count` events of 50 order actors, numbered from `first`, published straight to the stream. A
 * chunk that fails (the server away) is sent again: the message id makes a repeat a no-op.
 */
export async function publishEvents(nc: NatsConnection, first: number, count: number): Promise<void> {
  const js = jetstream(nc);
  const CHUNK = 500;
  for (let start = first; start < first + count; start += CHUNK) {
    for (let attempt = 1; ; attempt++) {
      const acks: Promise<unknown>[] = [];
      for (let n = start; n < Math.min(start + CHUNK, first + count); n++) {
        const actorId = `order-${n % 50}`;
        const event = {
          id: `e-${n}`,
          eventType: "ItemAdded",
          actorId,
          version: n,
          data: { amount: n % 7 },
          timestamp: new Date().toISOString(),
        };
        acks.push(js.publish(`EVENTS.events.order.${actorId}`, JSON.stringify(event), { msgID: event.id, timeout: 5000 }));
      }
      try {
        await Promise.all(acks);
        break;
      } catch (err) {
        // Up to 30 s: a cluster electing a new stream leader has none to answer meanwhile.
        if (attempt >= 60) throw err;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }
}
