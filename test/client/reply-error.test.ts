import { Svcm } from "@nats-io/services";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { errorFromReply } from "../../src/client/reply-error.js";
import {
  ConditionFailedError,
  ErasedError,
  ErrorCodes,
  type EventStoreError,
  InternalError,
  NotFoundError,
  NotSupportedError,
  UnavailableError,
  ValidationError,
  VersionConflictError,
} from "../../src/contract/errors.js";
import { type NatsServer, startNatsServer } from "../harness/nats-server.js";

// The real service's replies cover 400, 404, 409, 500 and 503 (test/client/*.test.ts); a 501 needs a
// nats-server older than any the harness runs. So here a micro service answers each error of the
// catalogue exactly as src/server/service/service.ts does (respondError with code, message and JSON body),
// and the client must rebuild the same class with the same details.
const catalogue: EventStoreError[] = [
  new ValidationError("invalid save request: /version must be integer", [{ path: "/version", message: "must be integer" }]),
  new NotFoundError('no snapshot for actor "a-1"'),
  new VersionConflictError("a-1", 2, 5),
  new VersionConflictError("a-1", 2, 5, "version conflict in a transaction", [
    { actorId: "a-1", attemptedVersion: 2, currentVersion: 5 },
    { actorId: "b-1", attemptedVersion: 1, currentVersion: 1 },
  ]),
  new ConditionFailedError(17),
  new ConditionFailedError(4, "condition failed in a transaction"),
  new ErasedError("a-2", "2026-01-01T00:00:00.000Z"),
  new InternalError("internal error"),
  new NotSupportedError("append needs nats-server 2.12.0 or newer", "2.12.0"),
  new UnavailableError("JetStream unavailable; retry with the same event id"),
];

let server: NatsServer;
let nc: NatsConnection;

beforeAll(async () => {
  server = await startNatsServer({ jetstream: false });
  nc = await connect({ servers: server.url });
  const service = await new Svcm(nc).add({ name: "errors", version: "0.0.1" });
  service.addEndpoint("reply", {
    subject: "test.errors.reply",
    handler: (_err, msg) => {
      const err = catalogue[Number(msg.string())]!;
      msg.respondError(err.code, err.message, JSON.stringify(err.toBody()));
    },
  });
});

afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

describe("errors rebuilt from micro error replies", () => {
  it("covers every code of the catalogue a service answers with", () => {
    // 403 never travels in a reply: the client raises it itself when NATS refuses the caller's request.
    const answered = Object.values(ErrorCodes).filter((code) => code !== ErrorCodes.PermissionError);
    expect(new Set(catalogue.map((e) => e.code))).toEqual(new Set(answered));
  });

  it.each(catalogue.map((e, i) => [e.name, i] as const))("%s comes back as its own class with its details", async (_name, i) => {
    const sent = catalogue[i]!;
    const rebuilt = errorFromReply(await nc.request("test.errors.reply", String(i)));
    expect(rebuilt).toBeInstanceOf(sent.constructor);
    expect(rebuilt?.code).toBe(sent.code);
    expect(rebuilt?.toBody()).toEqual(sent.toBody());
    expect(rebuilt?.details()).toEqual(sent.details());
  });

  it("a success reply is no error", async () => {
    nc.subscribe("test.errors.ok", { callback: (_err, msg) => void msg.respond('{"ok":true}') });
    expect(errorFromReply(await nc.request("test.errors.ok", ""))).toBeUndefined();
  });

  it("a code this client does not know becomes an InternalError that names it", async () => {
    const service = await new Svcm(nc).add({ name: "future", version: "0.0.1" });
    service.addEndpoint("teapot", {
      subject: "test.errors.teapot",
      handler: (_err, msg) => msg.respondError(418, "I'm a teapot"),
    });
    const rebuilt = errorFromReply(await nc.request("test.errors.teapot", ""));
    expect(rebuilt).toBeInstanceOf(InternalError);
    expect(rebuilt?.message).toContain("418");
    expect(rebuilt?.message).toContain("I'm a teapot");
    await service.stop();
  });
});
