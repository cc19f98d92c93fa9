import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ServiceInfo } from "@nats-io/services";
import { connect, Empty, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EventStoreClient } from "../../src/client/client.js";
import { ValidationError } from "../../src/contract/errors.js";
import { type NatsServer, startNatsServer } from "../harness/nats-server.js";
import { type ServiceProcess, startServiceProcess } from "../harness/service-process.js";
import { finished, lines, runCli, spawnCli } from "./run-cli.js";

// A small max_payload keeps the largest events small: the request limit is 64 KiB less 4 KiB.
// (Room enough still for the service's $SRV.INFO, which carries every endpoint's schemas.)
const MAX_PAYLOAD = 65_536;

interface Store {
  server: NatsServer;
  service: ServiceProcess;
  nc: NatsConnection;
  client: EventStoreClient;
  env: Record<string, string>;
}

async function startStore(): Promise<Store> {
  const server = await startNatsServer({ config: `max_payload: ${MAX_PAYLOAD}` });
  const service = await startServiceProcess(server.url);
  const nc = await connect({ servers: server.url });
  return { server, service, nc, client: new EventStoreClient(nc), env: { NATS_URL: server.url } };
}

async function stopStore(s: Store | undefined): Promise<void> {
  await s?.nc.close();
  await s?.service.stop();
  await s?.server.stop();
}

let source: Store;
let target: Store;
let limit: number;
let dir: string;
const encoder = new TextEncoder();

beforeAll(async () => {
  [source, target] = await Promise.all([startStore(), startStore()]);
  const info = (await source.nc.request("$SRV.INFO.eventstore", Empty)).json<ServiceInfo>();
  limit = Number(info.metadata?.max_request_bytes);
  dir = mkdtempSync(join(tmpdir(), "es-cli-limits-"));
});

afterAll(async () => {
  await stopStore(source);
  await stopStore(target);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** An event's JSON of exactly `bytes` bytes, with numbers and white space as no serialiser writes them. */
function eventJson(actorId: string, version: number, bytes: number, timestamp?: string): string {
  const head = `{ "id": "${randomUUID()}", "eventType": "T", "actorId": "${actorId}", "version": ${version}, "data": { "n": 1.50, "pad": "`;
  const tail = `" }${timestamp ? `, "timestamp": "${timestamp}"` : ""} }`;
  return head + "x".repeat(bytes - head.length - tail.length) + tail;
}

describe("events at the request limit", () => {
  it("a save whose stored form (timestamp added) would exceed the request limit is refused, so that none is stored that could not be imported", async () => {
    const json = eventJson(`big-${randomUUID()}`, 1, limit);
    const refused = await source.client.saveJson(encoder.encode(json)).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(ValidationError);
    expect((refused as ValidationError).message).toContain("as stored (timestamp included)");
  });

  it("the largest events export and import back byte for byte", async () => {
    const actorId = `big-${randomUUID()}`;
    // As large as the rule allows: with its timestamp, or without (the store adds 39 bytes).
    const sent = [eventJson(actorId, 1, limit, "2026-01-01T00:00:00.000Z"), eventJson(actorId, 2, limit - 39)];
    for (const json of sent) await source.client.saveJson(encoder.encode(json));
    const exportFile = join(dir, "big.ndjson");
    const exported = await runCli(["export", "big", "--out", exportFile], { env: source.env });
    expect(exported.code, exported.stderr).toBe(0);
    const mine = lines(readFileSync(exportFile, "utf8")).filter((l) => l.includes(actorId));
    expect(mine[0]).toBe(sent[0]);
    // The bytes as sent, the timestamp spliced in before the closing brace.
    expect(mine[1]!.startsWith(sent[1]!.slice(0, -1))).toBe(true);
    expect(mine[1]!.slice(sent[1]!.length - 1)).toMatch(/^,"timestamp":"[^"]+"}$/);
    expect(Buffer.byteLength(mine[1]!)).toBe(limit);

    const imported = await runCli(["import", exportFile], { env: target.env });
    expect(imported.code, imported.stderr).toBe(0);
    const again = join(dir, "big-again.ndjson");
    expect((await runCli(["export", "big", "--out", again], { env: target.env })).code).toBe(0);
    expect(readFileSync(again, "utf8")).toBe(readFileSync(exportFile, "utf8"));
  });

  it("import checks every line's size before it sends any: an oversize line imports nothing", async () => {
    const actorId = `big-${randomUUID()}`;
    const file = join(dir, "oversize.ndjson");
    writeFileSync(file, [eventJson(actorId, 1, 300), eventJson(actorId, 2, limit - 20)].join("\n"));
    const r = await runCli(["import", file], { env: target.env });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain(`${file}:2: not a valid event: / is larger than ${limit} bytes as stored`);
    expect(await target.client.version(actorId)).toBe(0);
  });
});

it("import - streams stdin: an input several times the CLI's heap imports", { timeout: 60_000 }, async () => {
  const actorId = `stdin-${randomUUID()}`;
  const events = [1, 2].map((version) => eventJson(actorId, version, 200));
  // A 32 MiB heap and 48 MiB of input: held as one string (as before), the input could not fit.
  const child = spawnCli(["import", "-"], { ...target.env, NODE_OPTIONS: "--max-old-space-size=32" });
  const result = finished(child);
  const started = Date.now();
  const blank = `${" ".repeat(1023)}\n`.repeat(1024);
  child.stdin!.write(`${events[0]}\n`);
  for (let i = 0; i < 48; i++) if (!child.stdin!.write(blank)) await once(child.stdin!, "drain");
  child.stdin!.end(`${events[1]}\n`);
  const r = await result;
  console.log(`imported 48 MiB from stdin under a 32 MiB heap in ${Date.now() - started} ms`);
  expect(r.code, r.stderr).toBe(0);
  expect(JSON.parse(r.stdout)).toEqual({ imported: 2, duplicates: 0 });
  expect(await target.client.version(actorId)).toBe(2);
});
