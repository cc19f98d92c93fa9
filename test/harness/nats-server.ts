import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stopProcess, track } from "./processes.js";

export interface NatsServerOptions {
  /** Extra nats-server configuration text, appended to the generated file. */
  config?: string;
  /** Listen on this port instead of a free one (used to restart a server in place). */
  port?: number;
  /** Reuse this store directory (a restart keeps its data). */
  dir?: string;
  jetstream?: boolean;
  /** Run this nats-server binary instead of NATS_SERVER_BIN (e.g. an older release). */
  bin?: string;
}

export interface NatsServer {
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  readonly process: ChildProcess;
  /** Stops the server (SIGTERM, then SIGKILL) and deletes its temp directory. */
  stop(): Promise<void>;
  /** Stops the server but keeps its data, so that restart() brings it back. */
  halt(signal?: NodeJS.Signals): Promise<void>;
  restart(): Promise<NatsServer>;
}

export function natsServerBin(): string {
  const bin = process.env.NATS_SERVER_BIN;
  if (!bin || !existsSync(bin)) {
    throw new Error(
      "no nats-server binary: the test setup looks one up with scripts/get-nats-server.sh; " +
        "set NATS_SERVER_BIN to a nats-server >= 2.12 or run that script",
    );
  }
  return bin;
}

/** A nats-server older than 2.12, without atomic batch publish: Debian bookworm's 2.9.x unless NATS_SERVER_OLD_BIN says otherwise. */
export function oldNatsServerBin(): string {
  return execFileSync("bash", [join(import.meta.dirname, "..", "..", "scripts", "get-nats-server.sh"), "--old"], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  }).trim();
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** Starts nats-server with JetStream on a free port and its own temp storage. */
export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServer> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), "es-nats-"));
  const portsDir = mkdtempSync(join(dir, "ports-"));
  const conf = join(dir, "server.conf");
  const lines = [`host: 127.0.0.1`, `port: ${options.port ?? -1}`];
  if (options.jetstream !== false) lines.push(`jetstream { store_dir: ${JSON.stringify(join(dir, "js"))} }`);
  if (options.config) lines.push(options.config);
  writeFileSync(conf, lines.join("\n") + "\n");
  const child = spawn(options.bin ?? natsServerBin(), ["-c", conf, "--ports_file_dir", portsDir], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  track(child);
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-8000);
  });
  const port = await waitForPort(child, portsDir, () => stderr);
  rmSync(portsDir, { recursive: true, force: true });
  const server: NatsServer = {
    url: `nats://127.0.0.1:${port}`,
    port,
    dir,
    process: child,
    async stop() {
      await stopProcess(child);
      rmSync(dir, { recursive: true, force: true });
    },
    async halt(signal: NodeJS.Signals = "SIGTERM") {
      await stopProcess(child, signal);
    },
    restart() {
      return startNatsServer({ ...options, port, dir });
    },
  };
  return server;
}

async function waitForPort(child: ChildProcess, portsDir: string, stderr: () => string): Promise<number> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const file = readdirSync(portsDir).find((f) => f.endsWith(".ports"));
    if (file) {
      try {
        const ports = JSON.parse(readFileSync(join(portsDir, file), "utf8")) as { nats: string[] };
        return Number(new URL(ports.nats[0]!).port);
      } catch {
        // written but not complete yet
      }
    }
    if (child.exitCode !== null) throw new Error(`nats-server exited with ${child.exitCode}: ${stderr()}`);
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`nats-server did not start within 15s: ${stderr()}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}
