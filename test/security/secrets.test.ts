import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createUser } from "@nats-io/nkeys";
import { connect, Empty, type Msg, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type NatsServer, startNatsServer } from "../harness/nats-server.js";
import { runServiceToExit, startServiceProcess } from "../harness/service-process.js";

// Credentials never reach a log line, an error reply or $SRV metadata: runs configured with a
// password, a token and an NKey seed, at LOG_LEVEL=trace, serving successes and every kind of error,
// and runs that fail at start; everything they print and answer is searched for each secret.

const secret = () => randomBytes(18).toString("base64url");
const dir = mkdtempSync(join(tmpdir(), "es-secrets-"));

function seed(name: string): { file: string; seed: string; publicKey: string } {
  const user = createUser();
  const file = join(dir, `${name}.nk`);
  const text = new TextDecoder().decode(user.getSeed());
  writeFileSync(file, text + "\n", { mode: 0o600 });
  return { file, seed: text, publicKey: user.getPublicKey() };
}

const password = secret();
const callerPassword = secret();
const token = secret();
const wrongPassword = secret();
const wrongToken = secret();
const serviceKey = seed("service");
const strangerKey = seed("stranger");
const secrets = { password, token, wrongPassword, wrongToken, seed: serviceKey.seed, strangerSeed: strangerKey.seed };

let users: NatsServer;
let tokens: NatsServer;

beforeAll(async () => {
  users = await startNatsServer({
    config: `authorization { users: [ {user: eventstore, password: "${password}"}, {nkey: ${serviceKey.publicKey}}, {user: caller, password: "${callerPassword}"} ] }`,
  });
  tokens = await startNatsServer({ config: `authorization { token: "${token}" }` });
});

afterAll(async () => {
  await users?.stop();
  await tokens?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Everything a caller can see: one reply of each kind, headers and body, as text. */
async function repliesOf(nc: NatsConnection): Promise<string> {
  const actorId = `order-${randomUUID()}`;
  const event = { id: randomUUID(), eventType: "T", actorId, version: 1, data: {} };
  const requests: [string, unknown][] = [
    ["eventstore.save", event],
    ["eventstore.save", { ...event, id: randomUUID() }],
    ["eventstore.save", { ...event, version: "one" }],
    ["eventstore.save", "not json"],
    ["eventstore.events", { actorId }],
    ["eventstore.snapshot.get", { actorId }],
    ["eventstore.snapshot.save", { actorId, version: 9, state: {} }],
    ["$SRV.PING.eventstore", undefined],
    ["$SRV.INFO.eventstore", undefined],
    ["$SRV.STATS.eventstore", undefined],
  ];
  const seen: string[] = [];
  for (const [subject, body] of requests) {
    const payload = body === undefined ? Empty : typeof body === "string" ? body : JSON.stringify(body);
    const msg: Msg = await nc.request(subject, payload, { timeout: 5000 });
    seen.push(subject, JSON.stringify([...(msg.headers ?? [])]), msg.string());
  }
  return seen.join("\n");
}

function expectNoSecret(text: string): void {
  for (const [name, value] of Object.entries(secrets)) expect(text.includes(value), `${name} leaked`).toBe(false);
}

describe("credentials stay out of logs, replies and $SRV metadata", () => {
  it.each([
    ["a password", (): NatsServer => users, { NATS_USER: "eventstore", NATS_PASSWORD: password }],
    ["an NKey seed", (): NatsServer => users, { NATS_NKEY: serviceKey.file }],
    ["a token", (): NatsServer => tokens, { NATS_TOKEN: token }],
  ] as const)("when the service runs with %s", async (_name, server, env) => {
    const service = await startServiceProcess(server().url, { ...env, LOG_LEVEL: "trace" });
    let replies: string;
    try {
      const caller = await connect(
        server() === tokens ? { servers: tokens.url, token } : { servers: users.url, user: "caller", pass: callerPassword },
      );
      replies = await repliesOf(caller).finally(() => caller.close());
    } finally {
      expect(await service.stop()).toBe(0);
    }
    // The searches below look at real material: the replies hold every kind, the logs went to trace.
    expect(replies).toContain('"code":400');
    expect(replies).toContain('"code":409');
    expect(replies).toContain('"code":404');
    expect(replies).toContain('"metadata"');
    expect(replies).toContain("errors_by_code");
    expect(service.output()).toContain("service started");
    expect(service.logs.some((l) => l.level === 20)).toBe(true);
    expectNoSecret(replies);
    expectNoSecret(service.output());
  });

  it.each([
    ["a wrong password", (): string => users.url, { NATS_USER: "eventstore", NATS_PASSWORD: wrongPassword }],
    ["a wrong token", (): string => tokens.url, { NATS_TOKEN: wrongToken }],
    ["a stranger's NKey seed", (): string => users.url, { NATS_NKEY: strangerKey.file }],
    [
      "every credential and no server",
      (): string => "nats://127.0.0.1:1",
      // Its attempts are logged too (at warn), for one second.
      { NATS_USER: "u", NATS_PASSWORD: password, NATS_TOKEN: token, NATS_CONNECT_TIMEOUT_MS: "1000" },
    ],
  ] as const)("when the start fails with %s", async (_name, url, env) => {
    const { code, output } = await runServiceToExit({ NATS_URL: url(), LOG_LEVEL: "trace", ...env });
    expect(code).toBe(1);
    expect(output).toContain("eventstore could not start");
    expectNoSecret(output);
  });
});
