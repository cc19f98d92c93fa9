import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";

/** The Go `nats` CLI: on PATH, or where `go install` puts it. undefined when absent. */
export function natsCli(): string | undefined {
  const candidates = [
    process.env.NATS_CLI_BIN,
    ...(process.env.PATH ?? "").split(":").map((d) => join(d, "nats")),
    join(process.env.GOPATH ?? join(process.env.HOME ?? "/root", "go"), "bin", "nats"),
  ];
  return candidates.find((c): c is string => !!c && existsSync(c));
}

export const NATS_CLI_INSTALL = "go install github.com/nats-io/natscli/nats@v0.5.0";

export function runNatsCli(bin: string, args: string[], server: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(bin, ["--server", server, "--no-context", ...args], { timeout: 20_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}
