import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createUser } from "@nats-io/nkeys";
import { type ConnectionOptions, connect, credsAuthenticator, nkeyAuthenticator } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type NatsServer, startNatsServer } from "../harness/nats-server.js";
import { request } from "../harness/requests.js";
import { runServiceToExit, startServiceProcess } from "../harness/service-process.js";
import { makeOperator } from "./jwt.js";
import { makePki, type Pki } from "./pki.js";

// Each auth option of the contract against a nats-server that demands it: the service starts and
// serves a save and a read through it, and a wrong credential stops the start with exit 1 and a
// message that says what was refused (never a retry loop: runServiceToExit kills after 20 s and
// would then report a null exit code).

interface Scenario {
  name: string;
  serverConfig: string;
  /** The service's environment beside NATS_URL. */
  serviceEnv: Record<string, string>;
  /** The test's own connection, as a caller of the service. */
  callerOptions: Partial<ConnectionOptions>;
  /** Wrong credentials, each with what the failure message must say. */
  wrong: { env: Record<string, string>; says: RegExp }[];
}

const secret = () => randomBytes(18).toString("base64url");

function seedFile(dir: string, name: string): { file: string; publicKey: string } {
  const user = createUser();
  const file = join(dir, `${name}.nk`);
  writeFileSync(file, new TextDecoder().decode(user.getSeed()) + "\n", { mode: 0o600 });
  return { file, publicKey: user.getPublicKey() };
}

function scenarios(dir: string, pki: Pki): Scenario[] {
  const password = secret();
  const callerPassword = secret();
  const token = secret();
  const serviceKey = seedFile(dir, "service");
  const callerKey = seedFile(dir, "caller");
  const strangerKey = seedFile(dir, "stranger");
  const operator = makeOperator(dir);
  const serviceCreds = operator.user("eventstore");
  const callerCreds = operator.user("caller");
  const refused = /the NATS server refused the credentials/;
  return [
    {
      name: "user and password",
      serverConfig: `authorization { users: [ {user: eventstore, password: "${password}"}, {user: caller, password: "${callerPassword}"} ] }`,
      serviceEnv: { NATS_USER: "eventstore", NATS_PASSWORD: password },
      callerOptions: { user: "caller", pass: callerPassword },
      wrong: [
        { env: { NATS_USER: "eventstore", NATS_PASSWORD: secret() }, says: refused },
        { env: {}, says: refused },
      ],
    },
    {
      name: "token",
      serverConfig: `authorization { token: "${token}" }`,
      serviceEnv: { NATS_TOKEN: token },
      callerOptions: { token },
      wrong: [{ env: { NATS_TOKEN: secret() }, says: refused }],
    },
    {
      name: "NKey seed file",
      serverConfig: `authorization { users: [ {nkey: ${serviceKey.publicKey}}, {nkey: ${callerKey.publicKey}} ] }`,
      serviceEnv: { NATS_NKEY: serviceKey.file },
      callerOptions: { authenticator: nkeyAuthenticator(new TextEncoder().encode(readFileSync(callerKey.file, "utf8").trim())) },
      wrong: [
        { env: { NATS_NKEY: strangerKey.file }, says: refused },
        { env: { NATS_NKEY: join(dir, "missing.nk") }, says: /NATS_NKEY: cannot read .*missing\.nk: ENOENT/ },
      ],
    },
    {
      name: "creds file (operator, account and user JWTs, memory resolver)",
      serverConfig: operator.serverConfig,
      serviceEnv: { NATS_CREDS: serviceCreds },
      callerOptions: { authenticator: credsAuthenticator(readFileSync(callerCreds)) },
      wrong: [
        { env: { NATS_CREDS: operator.strangerCreds() }, says: refused },
        { env: { NATS_CREDS: join(dir, "missing.creds") }, says: /NATS_CREDS: cannot read/ },
      ],
    },
    {
      name: "TLS with a generated CA",
      serverConfig: `tls { cert_file: "${pki.serverCert}", key_file: "${pki.serverKey}" }`,
      serviceEnv: { NATS_TLS_CA: pki.caFile },
      callerOptions: { tls: { caFile: pki.caFile } },
      wrong: [
        { env: { NATS_TLS_CA: pki.strangerCaFile }, says: /TLS/ },
        { env: {}, says: /TLS/ },
        { env: { NATS_TLS_CA: join(dir, "missing-ca.pem") }, says: /NATS_TLS_CA: cannot read/ },
      ],
    },
    {
      name: "mutual TLS",
      serverConfig: `tls { cert_file: "${pki.serverCert}", key_file: "${pki.serverKey}", ca_file: "${pki.caFile}", verify: true }`,
      serviceEnv: { NATS_TLS_CA: pki.caFile, NATS_TLS_CERT: pki.clientCert, NATS_TLS_KEY: pki.clientKey },
      callerOptions: { tls: { caFile: pki.caFile, certFile: pki.clientCert, keyFile: pki.clientKey } },
      wrong: [
        // TLS 1.3 reports a refused client certificate after the handshake: usually as silence
        // until the connect timeout, sometimes as an alert; either way the message says what to check.
        { env: { NATS_TLS_CA: pki.caFile }, says: /client certificate|TLS handshake with the NATS server failed/ },
        {
          env: { NATS_TLS_CA: pki.caFile, NATS_TLS_CERT: pki.strangerCert, NATS_TLS_KEY: pki.strangerKey },
          says: /client certificate|TLS handshake with the NATS server failed/,
        },
        { env: { NATS_TLS_CA: pki.caFile, NATS_TLS_CERT: pki.clientCert, NATS_TLS_KEY: pki.serverKey }, says: /TLS/ },
      ],
    },
  ];
}

const dir = mkdtempSync(join(tmpdir(), "es-auth-"));
const pki = makePki(dir);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.each(scenarios(dir, pki))("auth: $name", (scenario) => {
  let server: NatsServer;

  beforeAll(async () => {
    server = await startNatsServer({ config: scenario.serverConfig });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("serves a save and a read through it", async () => {
    const service = await startServiceProcess(server.url, scenario.serviceEnv);
    try {
      const nc = await connect({ servers: server.url, ...scenario.callerOptions });
      const actorId = `order-${randomUUID()}`;
      const event = { id: randomUUID(), eventType: "OrderPlaced", actorId, version: 1, data: { total: 42 } };
      expect(await request(nc, "eventstore.save", event)).toMatchObject({ code: 0, body: { actorId, version: 1 } });
      const read = await request(nc, "eventstore.events", { actorId });
      expect(read).toMatchObject({ code: 0, body: { actorId, events: [{ ...event }], hasMore: false } });
      await nc.close();
    } finally {
      expect(await service.stop()).toBe(0);
    }
  });

  it("stops at start with exit 1 and a clear message on a wrong credential", async () => {
    for (const wrong of scenario.wrong) {
      const { code, output } = await runServiceToExit({ NATS_URL: server.url, NATS_CONNECT_TIMEOUT_MS: "3000", ...wrong.env });
      expect(code, output).toBe(1);
      expect(output).toContain("eventstore could not start");
      expect(output).toMatch(wrong.says);
    }
  });
});
