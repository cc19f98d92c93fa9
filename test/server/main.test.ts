import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { describe, expect, it } from "vitest";
import { useNatsServer } from "../harness/fixture.js";
import { freePort, type NatsServer, startNatsServer } from "../harness/nats-server.js";
import { stopProcess, track } from "../harness/processes.js";
import { request } from "../harness/requests.js";
import { MAIN, ROOT, runServiceToExit, startServiceProcess } from "../harness/service-process.js";

const f = useNatsServer();

const save = (actorId: string, version: number, data: Record<string, unknown> = {}) =>
  request(f.nc, "eventstore.save", { id: randomUUID(), eventType: "T", actorId, version, data }, 5000);

describe("the service process", () => {
  it("answers the requests in flight on SIGTERM, then exits 0", async () => {
    const service = await startServiceProcess(f.server.url, { EVENTSTORE_STREAM: "DRAIN" });
    const actors = Array.from({ length: 200 }, () => `order-${randomUUID()}`);
    const outcomes = actors.map((a) =>
      save(a, 1).then(
        (r) => (r.code === 0 ? "stored" : `error ${r.code}`),
        (err: Error) => err.constructor.name,
      ),
    );
    await outcomes[0];
    const exit = stopProcess(service.process);
    const results = await Promise.all(outcomes);
    expect(await exit).toBe(0);
    const stored = results.filter((r) => r === "stored").length;
    expect(stored).toBeGreaterThan(0);
    // what was not taken before the drain found no responder; nothing taken was left unanswered
    for (const r of results) expect(["stored", "NoRespondersError"]).toContain(r);
    const jsm = await jetstreamManager(f.nc);
    expect((await jsm.streams.info("DRAIN")).state.messages).toBe(stored);
    expect(service.logs.map((l) => l.msg)).toEqual(expect.arrayContaining(["shutting down: draining requests", "stopped"]));
  });

  it("logs JSON lines at LOG_LEVEL and keeps payloads and credentials out of info", async () => {
    const secret = `payload-${randomUUID()}`;
    const service = await startServiceProcess(f.server.url, { LOG_LEVEL: "info", EVENTSTORE_STREAM: "LOGS" });
    await save(`order-${randomUUID()}`, 1, { secret });
    await request(f.nc, "eventstore.save", { id: "x", eventType: "T", actorId: "order-1", version: -1, data: { secret } });
    expect(await service.stop()).toBe(0);
    expect(service.output()).not.toContain(secret);
    for (const line of service.logs) expect(line).toMatchObject({ level: expect.any(Number), msg: expect.any(String) });
    expect(service.logs.find((l) => l.msg === "service started")).toMatchObject({ level: 30, version: expect.any(String) });
  });

  it("exits on SIGTERM within its bound even when NATS cannot be reached", async () => {
    const own = await startNatsServer();
    const service = await startServiceProcess(own.url, { EVENTSTORE_JS_TIMEOUT_MS: "500" });
    try {
      await own.halt();
      // no SIGKILL fallback before the bound (2 x 500 ms + 2 s) has long passed
      const code = await stopProcess(service.process, "SIGTERM", 8000);
      expect(code).not.toBeNull();
      if (code !== 0) {
        const said = service.logs.filter((l) => l.level === 50).map((l) => String(l.msg));
        expect(
          said.some((m) => m.startsWith("shutdown")),
          service.output(),
        ).toBe(true);
      }
    } finally {
      await own.stop();
    }
  });

  it("honours LOG_LEVEL: at error, no info line is written", async () => {
    const quiet = await runServiceToExit({ NATS_URL: "nats://127.0.0.1:1", LOG_LEVEL: "error", NATS_CONNECT_TIMEOUT_MS: "1000" });
    expect(quiet.code).toBe(1);
    const lines = quiet.output
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { level: number; msg: string });
    expect(lines.length).toBeGreaterThan(0);
    for (const l of lines) expect(l.level).toBeGreaterThanOrEqual(50);
  });

  it("answers 503 when JetStream has lost the stream, and serves again when it is back", async () => {
    const service = await startServiceProcess(f.server.url, { EVENTSTORE_STREAM: "GONE" });
    try {
      const actorId = `order-${randomUUID()}`;
      expect((await save(actorId, 1)).code).toBe(0);
      const jsm = await jetstreamManager(f.nc);
      const config = (await jsm.streams.info("GONE")).config;
      await jsm.streams.delete("GONE");
      const r = await save(actorId, 2);
      expect(r.code).toBe(503);
      expect(r.body).toMatchObject({ error: { code: 503, message: expect.stringContaining("retry") } });
      await jsm.streams.add(config);
      expect((await save(actorId, 2)).code).toBe(0);
    } finally {
      expect(await service.stop()).toBe(0);
    }
  });

  it("refuses to start on a stream whose settings would drop events", async () => {
    const jsm = await jetstreamManager(f.nc);
    await jsm.streams.add({ name: "AGED", subjects: ["AGED.events.>"], max_age: 60_000_000_000 });
    const { code, output } = await runServiceToExit({ NATS_URL: f.server.url, EVENTSTORE_STREAM: "AGED" });
    expect(code).toBe(1);
    expect(output).toContain("max_age");
    expect(output).toContain("eventstore could not start");
  });

  it("refuses to start on a bad configuration or an unreachable server, with a message", async () => {
    const bad = await runServiceToExit({ NATS_URL: f.server.url, EVENTSTORE_REPLICAS: "nine" });
    expect(bad.code).toBe(1);
    expect(bad.output).toContain("EVENTSTORE_REPLICAS");
    const started = Date.now();
    const unreachable = await runServiceToExit({ NATS_URL: "nats://127.0.0.1:1", NATS_CONNECT_TIMEOUT_MS: "1500" });
    console.log(`gave up on an unreachable server after ${Date.now() - started} ms (NATS_CONNECT_TIMEOUT_MS=1500)`);
    expect(unreachable.code).toBe(1);
    expect(unreachable.output).toContain("could not start");
    // It tried again, saying so each time, before it gave up.
    expect(unreachable.output.match(/NATS not reachable yet/g)?.length).toBeGreaterThanOrEqual(2);
  });

  it("waits for a NATS server that comes up after it, as under a supervisor, and serves", async () => {
    const port = await freePort();
    const child = spawn(process.execPath, [MAIN], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? "",
        NATS_URL: `nats://127.0.0.1:${port}`,
        NATS_CONNECT_TIMEOUT_MS: "20000",
        EVENTSTORE_STREAM: "LATE",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    track(child);
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    const logs = () =>
      output
        .split("\n")
        .slice(0, -1)
        .flatMap((l) => (l.startsWith("{") ? [JSON.parse(l) as Record<string, unknown>] : []));
    const logged = async (msg: string) => {
      while (!logs().some((l) => l.msg === msg)) {
        if (child.exitCode !== null) throw new Error(`the service exited with ${child.exitCode}:\n${output}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    };
    let late: NatsServer | undefined;
    try {
      // Before, the service exited 1 at the first refusal.
      await logged("NATS not reachable yet: trying again");
      late = await startNatsServer({ port });
      await logged("service started");
      const attempts = logs().filter((l) => l.msg === "NATS not reachable yet: trying again");
      expect(attempts.map((l) => l.attempt)).toEqual(attempts.map((_, i) => i + 1));
      const own = await connect({ servers: late.url });
      const answer = await request(own, "eventstore.version", { actorId: "order-1" }, 5000);
      await own.close();
      expect(answer.body).toEqual({ actorId: "order-1", version: 0 });
    } finally {
      expect(await stopProcess(child)).toBe(0);
      await late?.stop();
    }
  });
});

describe("npm start without NATS_URL", () => {
  const portBusy = () =>
    new Promise<boolean>((resolve) => {
      const s = createConnection({ host: "127.0.0.1", port: 4222 });
      s.once("connect", () => {
        s.destroy();
        resolve(true);
      });
      s.once("error", () => resolve(false));
    });

  it("runs a local nats-server with its data under ./data and says how to call it", async (ctx) => {
    if (await portBusy()) ctx.skip("port 4222 is taken on this machine");
    const cwd = mkdtempSync(join(tmpdir(), "es-start-"));
    try {
      const service = await startServiceProcess("", { NATS_SERVER_BIN: process.env.NATS_SERVER_BIN ?? "" }, cwd);
      const local = await connect({ servers: "nats://127.0.0.1:4222" });
      try {
        const r = await request(local, "eventstore.save", { id: "e1", eventType: "T", actorId: "order-1", version: 1, data: {} });
        expect(r.code).toBe(0);
      } finally {
        await local.close();
      }
      expect(service.output()).toContain("nats req eventstore.save");
      expect(await service.stop()).toBe(0);
      expect(await portBusy()).toBe(false);
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });
});
