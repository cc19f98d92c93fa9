import { randomUUID } from "node:crypto";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { node } from "@opentelemetry/sdk-node";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { EventStoreClient } from "../../src/client/client.js";
import { ValidationError } from "../../src/contract/errors.js";
import { type App, startApp } from "../../src/server/app.js";
import { loadConfig } from "../../src/server/config.js";
import { createLogger } from "../../src/server/logger.js";
import { tracingConfigured } from "../../src/server/observability/environment.js";
import { instruments } from "../../src/server/observability/observers.js";
import { event } from "../harness/events.js";
import { type NatsServer, startNatsServer } from "../harness/nats-server.js";

// The service runs in this process, so that its spans reach an in-memory exporter.
const exporter = new node.InMemorySpanExporter();
const provider = new node.NodeTracerProvider({ spanProcessors: [new node.SimpleSpanProcessor(exporter)] });
// Registers the W3C trace-context propagator and an AsyncLocalStorage context manager, as the SDK does.
provider.register();

let server: NatsServer;
let nc: NatsConnection;
let app: App;

beforeAll(async () => {
  server = await startNatsServer();
  const config = loadConfig({ NATS_URL: server.url, LOG_LEVEL: "silent" });
  nc = await connect({ servers: server.url });
  app = await startApp({ serve: nc, jetstream: nc }, config, createLogger("silent"), instruments({ tracing: true, queue: config.queue }));
});
afterAll(async () => {
  await app?.running.stop();
  app?.store.close();
  await nc?.close();
  await server?.stop();
  await provider.shutdown();
});
beforeEach(() => exporter.reset());

const spans = () => exporter.getFinishedSpans();

describe("tracing", () => {
  it("continues the caller's trace from a traceparent header, with JetStream spans under the request's", async () => {
    const traceId = randomUUID().replaceAll("-", "");
    const callerSpanId = randomUUID().replaceAll("-", "").slice(0, 16);
    const h = headers();
    h.set("traceparent", `00-${traceId}-${callerSpanId}-01`);
    const actorId = `order-${randomUUID()}`;
    const reply = await nc.request("eventstore.save", JSON.stringify(event(actorId, 1)), { timeout: 5000, headers: h });
    expect(reply.json<{ version: number }>().version).toBe(1);

    const server = spans().find((s) => s.name === "save")!;
    expect(server, JSON.stringify(spans().map((s) => s.name))).toBeDefined();
    expect(server.spanContext().traceId).toBe(traceId);
    expect(server.parentSpanContext?.spanId).toBe(callerSpanId);
    expect(server.kind).toBe(SpanKind.SERVER);
    expect(server.attributes).toMatchObject({
      "messaging.system": "nats",
      "messaging.destination.name": "eventstore.save",
      "messaging.operation.type": "process",
      "messaging.consumer.group.name": "q",
    });
    // A save of an actor the service does not know publishes at once (expecting none before it),
    // below the request's span.
    const children = spans().filter((s) => s.parentSpanContext?.spanId === server.spanContext().spanId);
    expect(children.map((s) => s.name)).toEqual(["jetstream publish"]);
    for (const child of children) {
      expect(child.spanContext().traceId).toBe(traceId);
      expect(child.kind).toBe(SpanKind.CLIENT);
    }
    expect(children.find((s) => s.name === "jetstream publish")!.attributes["messaging.destination.name"]).toBe(
      `EVENTS.events.order.${actorId}`,
    );
  });

  it("makes the client send the active span's context, and marks only failures as errors", async () => {
    const client = new EventStoreClient(nc);
    const actorId = `order-${randomUUID()}`;
    const tracer = trace.getTracer("test");
    const caller = await tracer.startActiveSpan("caller", async (span) => {
      await client.save(event(actorId, 1));
      await client.save(event(actorId, 1)).catch(() => undefined); // 409
      span.end();
      return span;
    });
    const served = spans().filter((s) => s.name === "save");
    expect(served).toHaveLength(2);
    for (const s of served) {
      expect(s.spanContext().traceId).toBe(caller.spanContext().traceId);
      expect(s.parentSpanContext?.spanId).toBe(caller.spanContext().spanId);
    }
    expect(served[1]!.attributes["error.type"]).toBe("409");
    // A refusal is an answer as designed, not a failure of the service.
    expect(served[1]!.status.code).not.toBe(SpanStatusCode.ERROR);
  });

  it("refuses a request that fits max_payload only without its trace headers as ValidationError (400)", async () => {
    const client = new EventStoreClient(nc);
    const actorId = `order-${randomUUID()}`;
    const head = JSON.stringify(event(actorId, 1, { data: { pad: "" } }));
    // 10 bytes under max_payload: sent bare it is the service's to refuse (too large for its limit)
    const json = head.replace('"pad":""', `"pad":"${"x".repeat(nc.info!.max_payload - 10 - head.length)}"`);
    const bytes = new TextEncoder().encode(json);
    expect(bytes.length).toBe(nc.info!.max_payload - 10);
    const err = await trace.getTracer("test").startActiveSpan("caller", async (span) => {
      const e = await client.saveJson(bytes).catch((x: unknown) => x);
      span.end();
      return e;
    });
    expect(err).toBeInstanceOf(ValidationError);
    expect(err).toMatchObject({ code: 400 });
    expect((err as Error).message).toContain("max_payload");
  });

  it("starts a new trace for a request without traceparent, and traces nothing outside requests", async () => {
    await nc.request("eventstore.version", JSON.stringify({ actorId: `order-${randomUUID()}` }), { timeout: 5000 });
    // The store checks its streams' identity every 2 s in the background: that belongs to no request.
    await new Promise((r) => setTimeout(r, 2500));
    const roots = spans().filter((s) => !s.parentSpanContext);
    expect(roots.map((s) => s.name)).toEqual(["version"]);
  });
});

describe("whether tracing is configured", () => {
  it("is only when an OTEL_ variable is set and tracing is not turned off", () => {
    expect(tracingConfigured({})).toBe(false);
    expect(tracingConfigured({ OTEL_EXPORTER_OTLP_ENDPOINT: "" })).toBe(false);
    expect(tracingConfigured({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318" })).toBe(true);
    expect(tracingConfigured({ OTEL_SERVICE_NAME: "x", OTEL_SDK_DISABLED: "true" })).toBe(false);
    expect(tracingConfigured({ OTEL_SERVICE_NAME: "x", OTEL_TRACES_EXPORTER: "none" })).toBe(false);
  });
});
