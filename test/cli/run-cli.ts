import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { track } from "../harness/processes.js";
import { ROOT } from "../harness/service-process.js";

export const CLI = join(ROOT, "dist", "src", "cli", "main.js");

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  /** The whole environment of the process, beside PATH: nothing leaks in from the test's own. */
  env?: Record<string, string>;
  stdin?: string;
}

/** Runs the built CLI to its exit. */
export function runCli(args: string[], options: CliOptions = {}): Promise<CliResult> {
  const child = spawnCli(args, options.env);
  child.stdin!.end(options.stdin ?? "");
  return finished(child);
}

/** Starts the built CLI and leaves it running (tail). */
export function spawnCli(args: string[], env: Record<string, string> = {}): ChildProcess {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  track(child);
  return child;
}

export function finished(child: ChildProcess): Promise<CliResult> {
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.once("close", (code) => resolve({ code, stdout, stderr })));
}

/** Runs the CLI under a pseudo-terminal (util-linux `script`), as a person at a terminal would. */
export function runCliOnTerminal(args: string[], env: Record<string, string>): Promise<CliResult> {
  const command = [process.execPath, CLI, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(" ");
  const child = spawn("script", ["-qec", command, "/dev/null"], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", TERM: "xterm", ...env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  track(child);
  child.stdin!.end();
  return finished(child);
}

export function lines(text: string): string[] {
  return text.split("\n").filter((l) => l.trim() !== "");
}
