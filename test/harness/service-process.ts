import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { packageRoot } from "../../src/server/paths.js";
import { stopProcess, track } from "./processes.js";

// packageRoot() finds the package from src/ (tests) and from dist/ (the benchmark) alike.
export const ROOT = packageRoot();
export const MAIN = join(ROOT, "dist", "src", "main.js");

export interface ServiceProcess {
  readonly process: ChildProcess;
  /** Every log line so far, parsed. */
  readonly logs: Record<string, unknown>[];
  /** Everything written to stdout and stderr. */
  output(): string;
  /** SIGTERM and wait; resolves to the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL and wait. */
  kill(): Promise<void>;
}

/** Runs the built service (dist/src/main.js) as its own process and waits until it serves. */
export async function startServiceProcess(natsUrl: string, env: Record<string, string> = {}, cwd = ROOT): Promise<ServiceProcess> {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run npm run build (npm test does it first)`);
  const child = spawn(process.execPath, [MAIN], {
    cwd,
    env: { PATH: process.env.PATH ?? "", NATS_URL: natsUrl, LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  track(child);
  const logs: Record<string, unknown>[] = [];
  let text = "";
  let partial = "";
  child.stdout!.on("data", (d: Buffer) => {
    text += d.toString();
    partial += d.toString();
    const lines = partial.split("\n");
    partial = lines.pop()!;
    for (const line of lines) {
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // not a log line
      }
    }
  });
  child.stderr!.on("data", (d: Buffer) => {
    text += d.toString();
  });
  const deadline = Date.now() + 20_000;
  while (!logs.some((l) => l.msg === "service started")) {
    if (child.exitCode !== null) throw new Error(`the service exited with ${child.exitCode}:\n${text}`);
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`the service did not start within 20s:\n${text}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  return {
    process: child,
    logs,
    output: () => text,
    stop: () => stopProcess(child),
    kill: async () => {
      await stopProcess(child, "SIGKILL");
    },
  };
}

/** Runs the service to its exit (for start-up failures); resolves to its code and output. */
export function runServiceToExit(env: Record<string, string>, timeoutMs = 20_000): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [MAIN], { cwd: ROOT, env: { PATH: process.env.PATH ?? "", ...env } });
    track(child);
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}
