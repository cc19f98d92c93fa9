import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, expect, it } from "vitest";
import { publishAtomicBatch } from "../../src/server/jetstream/batch.js";
import { JetStreamStatusError } from "../../src/server/jetstream/errors.js";
import { Requester } from "../../src/server/jetstream/requester.js";
import { type NatsServer, startNatsServer } from "../harness/nats-server.js";

// An atomic batch's replies as the store's Requester hands them over: a status reply is no ack.

let server: NatsServer;
let nc: NatsConnection;

beforeAll(async () => {
  server = await startNatsServer({ jetstream: false });
  nc = await connect({ servers: server.url });
});

afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

it("fails with the status when nothing takes the batch (no responders: a stream without a leader), not as a malformed ack", async () => {
  const requester = new Requester(nc, 5000);
  const messages = ["nobody.one", "nobody.two"].map((subject) => ({ subject, data: new Uint8Array([1]), headers: headers() }));
  const err = await publishAtomicBatch(nc, messages, (subject, data, h) => requester.unobserved(subject, data, h)).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(JetStreamStatusError);
  expect(err).toMatchObject({ status: 503 });
});
