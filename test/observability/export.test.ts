import { randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, expect, it, vi } from "vitest";
import { runCli } from "../cli/run-cli.js";
import { event } from "../harness/events.js";
import { type NatsServer, startNatsServer } from "../harness/nats-server.js";
import { type ServiceProcess, startServiceProcess } from "../harness/service-process.js";

// The SDK exports as the standard OTEL_ environment says: here OTLP/JSON over HTTP to a receiver
// in the test, so that what the service and the CLI send can be read back.

interface ExportedSpan {
  service: string;
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
}

interface OtlpBody {
  resourceSpans: {
    resource: { attributes: { key: string; value: { stringValue?: string } }[] };
    scopeSpans: { spans: Omit<ExportedSpan, "service">[] }[];
  }[];
}

const received: ExportedSpan[] = [];
let receiver: Server;
let endpoint: string;
let server: NatsServer;
let service: ServiceProcess;

beforeAll(async () => {
  receiver = createServer((req, res) => {
    let body = "";
    req.on("data", (d: Buffer) => (body += d.toString()));
    req.on("end", () => {
      if (req.url === "/v1/traces") {
        for (const rs of (JSON.parse(body) as OtlpBody).resourceSpans) {
          const service = rs.resource.attributes.find((a) => a.key === "service.name")?.value.stringValue ?? "";
          for (const ss of rs.scopeSpans) for (const s of ss.spans) received.push({ service, ...s });
        }
      }
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end("{}");
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  endpoint = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  server = await startNatsServer();
  service = await startServiceProcess(server.url, { ...otel(), OTEL_BSP_SCHEDULE_DELAY: "100" });
});
afterAll(async () => {
  await service?.stop();
  await server?.stop();
  receiver?.close();
});

const otel = () => ({ OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: "http/json" });

it("exports the CLI's span and the service's span below it, one trace, to the OTLP endpoint of the environment", async () => {
  const actorId = `order-${randomUUID()}`;
  const r = await runCli(["save", JSON.stringify(event(actorId, 1))], { env: { NATS_URL: server.url, ...otel() } });
  expect(r.code, r.stderr).toBe(0);
  const cli = received.find((s) => s.service === "nats-eventstore-cli" && s.name === "nats-eventstore save");
  expect(cli, JSON.stringify(received)).toBeDefined();
  const save = await vi.waitFor(
    () => {
      const s = received.find((x) => x.service === "eventstore" && x.name === "save" && x.traceId === cli!.traceId);
      expect(s).toBeDefined();
      return s!;
    },
    { timeout: 10_000, interval: 100 },
  );
  expect(save.parentSpanId).toBe(cli!.spanId);
  const publish = await vi.waitFor(() => {
    const s = received.find((x) => x.name === "jetstream publish" && x.parentSpanId === save.spanId);
    expect(s).toBeDefined();
    return s!;
  });
  expect(publish.traceId).toBe(cli!.traceId);
});
