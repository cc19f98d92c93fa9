import { connect, errors, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, expect, it } from "vitest";
import { Requester } from "../../src/server/jetstream/requester.js";
import { type NatsServer, startNatsServer } from "../harness/nats-server.js";

// The store's request-reply on the hot path: the answer it gets, and a refusal by NATS, which
// sends no reply at all.

const TIMEOUT_MS = 10_000;
let server: NatsServer;
let nc: NatsConnection;

beforeAll(async () => {
  server = await startNatsServer({
    jetstream: false,
    config: `authorization { users = [ { user: "store", password: "s3cret", permissions: { publish: { deny: ["denied.>"] } } } ] }`,
  });
  nc = await connect({ servers: server.url, user: "store", pass: "s3cret" });
  nc.subscribe("echo.>", {
    callback: (_err, msg) => {
      msg.respond(msg.data);
    },
  });
  await nc.flush();
});

afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

it("resolves to the reply", async () => {
  const requester = new Requester(nc, TIMEOUT_MS);
  const reply = await requester.request("echo.one", new TextEncoder().encode("hello"));
  expect(new TextDecoder().decode(reply.data)).toBe("hello");
});

it("fails at once with NATS's refusal when the user may not publish to the subject, not after the timeout", async () => {
  const requester = new Requester(nc, TIMEOUT_MS);
  const start = performance.now();
  const [refused, other] = await Promise.allSettled([
    requester.request("denied.one", new Uint8Array()),
    requester.request("echo.two", new Uint8Array([1])),
  ]);
  expect(refused.status).toBe("rejected");
  const err = (refused as PromiseRejectedResult).reason as InstanceType<typeof errors.PermissionViolationError>;
  expect(err).toBeInstanceOf(errors.PermissionViolationError);
  expect(err).toMatchObject({ operation: "publish", subject: "denied.one" });
  expect(performance.now() - start).toBeLessThan(TIMEOUT_MS / 2);
  // A request to another subject is not failed with it.
  expect(other.status).toBe("fulfilled");
});
