import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** Latency samples in milliseconds, summarised as percentiles. */
export class Latencies {
  private readonly samples: number[] = [];

  add(ms: number): void {
    this.samples.push(ms);
  }

  get count(): number {
    return this.samples.length;
  }

  percentile(p: number): number {
    if (this.samples.length === 0) return NaN;
    const sorted = [...this.samples].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
  }

  summary(): { p50: number; p99: number } {
    return { p50: round(this.percentile(50)), p99: round(this.percentile(99)) };
  }
}

export interface RunResult {
  opsPerSec: number;
  p50: number;
  p99: number;
  ops: number;
  seconds: number;
}

/**
 * Runs `total` operations with `concurrency` of them in flight at once. Worker w runs its
 * operations j = 0, 1, ... in order, so per-worker state (an actor's version) needs no locks.
 */
export async function runConcurrent(
  concurrency: number,
  total: number,
  op: (worker: number, j: number) => Promise<void>,
): Promise<RunResult> {
  const latencies = new Latencies();
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      for (let i = worker, j = 0; i < total; i += concurrency, j++) {
        const t = performance.now();
        await op(worker, j);
        latencies.add(performance.now() - t);
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  return { opsPerSec: Math.round(total / seconds), ...latencies.summary(), ops: total, seconds: round(seconds) };
}

/** Where the median of values sits among them (the lower middle for an even count). */
export function medianIndex(values: number[]): number {
  const order = values.map((_, i) => i).sort((a, b) => values[a]! - values[b]!);
  return order[Math.floor((order.length - 1) / 2)]!;
}

export const median = (values: number[]): number => values[medianIndex(values)]!;

export function round(n: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** Samples a process's resident memory and CPU time from /proc while a phase runs. */
export class ProcessSampler {
  private timer: NodeJS.Timeout | undefined;
  private peakRssBytes = 0;
  private startCpuTicks = 0;
  private startTime = 0;

  constructor(private readonly pid: number) {}

  start(): void {
    this.peakRssBytes = 0;
    this.startCpuTicks = this.cpuTicks();
    this.startTime = performance.now();
    this.timer = setInterval(() => {
      this.peakRssBytes = Math.max(this.peakRssBytes, this.rssBytes());
    }, 50);
  }

  stop(): { peakRssMb: number; cpuPercent: number; cpuSeconds: number } {
    clearInterval(this.timer);
    this.peakRssBytes = Math.max(this.peakRssBytes, this.rssBytes());
    const seconds = (performance.now() - this.startTime) / 1000;
    // /proc/<pid>/stat counts CPU time in clock ticks of 1/100 s on Linux
    const cpuSeconds = (this.cpuTicks() - this.startCpuTicks) / 100;
    return {
      peakRssMb: round(this.peakRssBytes / 1024 / 1024, 1),
      cpuPercent: round((100 * cpuSeconds) / seconds, 1),
      cpuSeconds: round(cpuSeconds, 2),
    };
  }

  private rssBytes(): number {
    const status = readProc(`/proc/${this.pid}/status`);
    const m = /VmRSS:\s+(\d+) kB/.exec(status);
    return m ? Number(m[1]) * 1024 : 0;
  }

  private cpuTicks(): number {
    const stat = readProc(`/proc/${this.pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[11]) + Number(fields[12]);
  }
}

function readProc(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

/** Deals items to n workers like cards: worker w gets items w, w + n, w + 2n, ... */
export function deal<T>(items: T[], n: number): T[][] {
  return Array.from({ length: n }, (_, w) => items.filter((_, k) => k % n === w));
}

/**
 * The node options the image runs the service with (the Dockerfile's NODE_OPTIONS), so that the
 * benchmark measures the service as it is shipped.
 */
export function imageNodeOptions(): string {
  const dockerfile = readFileSync(fileURLToPath(new URL("../../Dockerfile", import.meta.url)), "utf8");
  const options = /^ENV NODE_OPTIONS="([^"]*)"$/m.exec(dockerfile)?.[1];
  if (options === undefined) throw new Error('the Dockerfile has no ENV NODE_OPTIONS="..." line for the benchmark to run the service with');
  return options;
}

/** Where the floor service (floor-service.ts) takes saves. */
export const FLOOR_SUBJECT = "bench.floor.save";

/** The floor service as a process of its own, once it serves; saves go to the stream's events subjects. */
export async function startFloorService(url: string, stream: string, nodeArgs: string[] = []): Promise<ChildProcess> {
  const script = fileURLToPath(new URL("./floor-service.js", import.meta.url));
  const child = spawn(process.execPath, [...nodeArgs, script, url, stream, FLOOR_SUBJECT], { stdio: ["ignore", "pipe", "inherit"] });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once("data", () => resolve());
    child.once("exit", (code) => reject(new Error(`the floor service exited with ${code}`)));
  });
  return child;
}
