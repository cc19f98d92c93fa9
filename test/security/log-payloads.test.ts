import { randomUUID } from "node:crypto";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type NatsServer, startNatsServer } from "../harness/nats-server.js";
import { request } from "../harness/requests.js";
import { type ServiceProcess, startServiceProcess } from "../harness/service-process.js";

// docs/operations.md: the service logs subjects, actor ids and codes, never payloads. Requests carry
// a marker in a key the schema refuses, in keys inside data and metadata, in values and in a body
// that is not JSON (whose parser quotes the first characters); at LOG_LEVEL=trace, the most the
// service logs, the marker never appears in its output. The caller's reply may name its own fields.

// Short: a JSON parser quotes about ten characters of the body.
const MARKER = `PII${randomUUID()
  .replace(/[^a-f]/g, "")
  .slice(0, 5)}`;

let server: NatsServer;
let service: ServiceProcess;
let nc: NatsConnection;

beforeAll(async () => {
  server = await startNatsServer();
  service = await startServiceProcess(server.url, { LOG_LEVEL: "trace" });
  nc = await connect({ servers: server.url });
});
afterAll(async () => {
  await nc?.close();
  await service?.stop();
  await server?.stop();
});

describe("a refused request's payload never reaches the log", () => {
  const actorId = `order-${randomUUID()}`;
  const event = (version: number, extra: Record<string, unknown> = {}) => ({
    id: randomUUID(),
    eventType: "T",
    actorId,
    version,
    data: {},
    ...extra,
  });

  it.each<[string, string, unknown, number]>([
    ["a key the schema refuses", "eventstore.save", event(1, { [`k-${MARKER}`]: 1 }), 400],
    [
      "a key of data holding __proto__",
      "eventstore.save",
      `{"id":"e","eventType":"T","actorId":"${actorId}","version":1,"data":{"${MARKER}":{"__proto__":1}}}`,
      400,
    ],
    [
      "a key of data with a lone surrogate",
      "eventstore.save",
      `{"id":"e","eventType":"T","actorId":"${actorId}","version":1,"data":{"${MARKER}\\ud800":1}}`,
      400,
    ],
    ["a metadata value that is not a string", "eventstore.save", event(1, { metadata: { [MARKER]: 1 } }), 400],
    [
      "a key of a snapshot's state beyond 1e308",
      "eventstore.snapshot.save",
      `{"actorId":"${actorId}","version":1,"state":{"${MARKER}":1e400}}`,
      400,
    ],
    ["a body that is not JSON", "eventstore.save", `${MARKER}, not JSON at all`, 400],
    ["an event type too long", "eventstore.save", event(1, { eventType: MARKER.repeat(100) }), 400],
    ["an append of another actor's event", "eventstore.append", { actorId, events: [{ ...event(1), actorId: `order-${MARKER}` }] }, 400],
    ["a read with an unknown key", "eventstore.events", { actorId, [MARKER]: true }, 400],
  ])("%s", async (_what, subject, body, code) => {
    const before = service.logs.filter((l) => l.msg === "request refused").length;
    const reply = await request(nc, subject, body);
    expect(reply.code).toBe(code);
    // The log line exists, so that its silence about the marker means something.
    await expect.poll(() => service.logs.filter((l) => l.msg === "request refused").length).toBeGreaterThan(before);
    expect(service.output()).not.toContain(MARKER);
  });

  it("names the refused field to the caller, whose data it is", async () => {
    const reply = await request(nc, "eventstore.save", event(1, { [`k-${MARKER}`]: 1 }));
    expect(JSON.stringify(reply.body)).toContain(MARKER);
  });
});
