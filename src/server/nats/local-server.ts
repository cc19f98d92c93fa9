import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { createConnection } from "node:net";
import { join } from "node:path";
import { packageRoot } from "../paths.js";

/** A nats-server this process started for `npm start` without NATS_URL. */
export interface LocalServer {
  readonly url: string;
  stop(): Promise<void>;
}

export const LOCAL_PORT = 4222;

/** The path of a nats-server >= 2.12: NATS_SERVER_BIN, the one on PATH, or one fetched once. */
export function findNatsServer(): string {
  const script = join(packageRoot(), "scripts", "get-nats-server.sh");
  return execFileSync("bash", [script], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }).trim();
}

/** Starts nats-server with JetStream on 127.0.0.1:4222 and its data under dataDir. */
export async function startLocalServer(dataDir: string): Promise<LocalServer> {
  if (await portOpen(LOCAL_PORT)) {
    throw new Error(`port ${LOCAL_PORT} is already taken (another nats-server?): set NATS_URL=nats://127.0.0.1:${LOCAL_PORT} to use it`);
  }
  const bin = findNatsServer();
  mkdirSync(dataDir, { recursive: true });
  const conf = join(dataDir, "nats-server.conf");
  writeFileSync(
    conf,
    [
      `host: 127.0.0.1`,
      `port: ${LOCAL_PORT}`,
      `jetstream {`,
      `  store_dir: ${JSON.stringify(join(dataDir, "jetstream"))}`,
      // Acknowledge only what is on disk: an event store must not lose acknowledged events on a crash.
      `  sync_interval: always`,
      `}`,
      ``,
    ].join("\n"),
  );
  // A process group of its own: Ctrl-C in a terminal reaches the whole foreground group, and the
  // server must outlive the service's drain. The service stops it once drained, or when it exits.
  const child = spawn(bin, ["-c", conf], { stdio: ["ignore", "ignore", "pipe"], detached: true });
  process.once("exit", () => child.kill("SIGTERM"));
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const deadline = Date.now() + 15_000;
  while (!(await portOpen(LOCAL_PORT))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`the local nats-server did not start: ${stderr.trim() || "no output"}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url: `nats://127.0.0.1:${LOCAL_PORT}`, stop: () => stopChild(child) };
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}
