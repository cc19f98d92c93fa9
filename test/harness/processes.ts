import type { ChildProcess } from "node:child_process";

// Every process a test starts is registered here, so that a crashed or failed test run
// still stops them when the worker exits.
const live = new Set<ChildProcess>();

export function track(child: ChildProcess): void {
  live.add(child);
  child.once("exit", () => live.delete(child));
}

process.once("exit", () => {
  for (const child of live) child.kill("SIGKILL");
});

/** Sends signal, waits for the exit, and SIGKILLs after graceMs. Resolves to the exit code. */
export function stopProcess(child: ChildProcess, signal: NodeJS.Signals = "SIGTERM", graceMs = 10_000): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve(code);
    });
    child.kill(signal);
  });
}
