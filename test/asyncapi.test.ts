import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type AsyncAPIDocumentInterface, DiagnosticSeverity, fromFile, Parser } from "@asyncapi/parser";
import type { ServiceInfo } from "@nats-io/services";
import { connect, Empty, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { Endpoints } from "../src/subjects.js";
import { type NatsServer, startNatsServer } from "./harness/nats-server.js";
import { ROOT, type ServiceProcess, startServiceProcess } from "./harness/service-process.js";

const FILE = join(ROOT, "asyncapi.yaml");

interface RawMessage {
  payload: { $ref?: string };
}
interface Raw {
  components: { messages: Record<string, RawMessage> };
  operations: Record<string, { action: string; channel: { $ref: string } }>;
  channels: Record<string, { messages: Record<string, { $ref: string }> }>;
}

let server: NatsServer;
let service: ServiceProcess;
let nc: NatsConnection;
let info: ServiceInfo;
let document: AsyncAPIDocumentInterface;
const raw = parseYaml(readFileSync(FILE, "utf8")) as Raw;

beforeAll(async () => {
  const parsed = await fromFile(new Parser(), FILE).parse();
  const problems = parsed.diagnostics.filter((d) => d.severity <= DiagnosticSeverity.Warning);
  expect(problems.map((d) => `${d.code}: ${d.message} at ${d.path.join(".")}`)).toEqual([]);
  document = parsed.document!;
  server = await startNatsServer();
  service = await startServiceProcess(server.url);
  nc = await connect({ servers: server.url });
  info = (await nc.request("$SRV.INFO.eventstore", Empty)).json<ServiceInfo>();
});

afterAll(async () => {
  await nc?.close();
  await service?.stop();
  await server?.stop();
});

/** The request/reply operations: those the service receives on an eventstore subject. */
function endpointOperations(): Map<string, string> {
  const ops = new Map<string, string>();
  for (const op of document.operations().all()) {
    const address = op.channels().all()[0]?.address() ?? "";
    if (op.action() === "receive" && address.startsWith("eventstore.")) ops.set(op.id()!, address);
  }
  return ops;
}

describe("asyncapi.yaml", () => {
  it("is a valid AsyncAPI 3 document, versioned as the package and the running service", () => {
    expect(document.version()).toMatch(/^3\./);
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string };
    expect(document.info().version()).toBe(pkg.version);
    expect(info.version).toBe(pkg.version);
  });

  it("describes every endpoint the running service registers, on its subject, and nothing else", () => {
    const registered = new Map(info.endpoints.map((e) => [e.name, e.subject]));
    expect(registered).toEqual(new Map(Object.entries(Endpoints)));
    expect(endpointOperations()).toEqual(registered);
  });

  it("answers each request with the endpoint's reply or the error reply", () => {
    for (const op of document.operations().all().filter((o) => endpointOperations().has(o.id()!))) {
      const reply = op.reply();
      expect(reply, op.id()).toBeDefined();
      expect(reply!.messages().all().map((m) => m.id()).sort(), op.id()).toEqual(["error", "reply"]);
      const error = reply!.messages().all().find((m) => m.id() === "error")!;
      expect(Object.keys(error.headers()?.properties() ?? {}).sort()).toEqual(["Nats-Service-Error", "Nats-Service-Error-Code"]);
    }
  });

  it("references the payload schemas in schemas/ rather than copying them", () => {
    const refs = Object.fromEntries(Object.entries(raw.components.messages).map(([name, m]) => [name, m.payload.$ref]));
    for (const [name, ref] of Object.entries(refs)) {
      expect(ref, name).toMatch(/^\.\/schemas\/[a-z_.]+\.json$/);
      expect(existsSync(join(ROOT, ref!)), ref).toBe(true);
    }
    for (const name of Object.keys(Endpoints)) {
      const channel = raw.channels[name]!;
      const replies = raw.channels[`${name}_reply`]!;
      const payloadOf = (ref: string) => refs[ref.split("/").pop()!];
      expect(payloadOf(channel.messages.request!.$ref)).toBe(`./schemas/${name}.request.json`);
      expect(payloadOf(replies.messages.reply!.$ref)).toBe(`./schemas/${name}.response.json`);
      expect(payloadOf(replies.messages.error!.$ref)).toBe("./schemas/error.json");
    }
  });

  it("resolves each endpoint's schemas to the ones the running service reports in its metadata", () => {
    for (const endpoint of info.endpoints) {
      const op = document.operations().all().find((o) => o.id() === endpoint.name)!;
      const request = op.messages().all()[0]!.payload()!.json();
      const reply = op.reply()!.messages().all().find((m) => m.id() === "reply")!.payload()!.json();
      expect(validationKeywords(request), endpoint.name).toEqual(validationKeywords(JSON.parse(endpoint.metadata!.request_schema!)));
      expect(validationKeywords(reply), endpoint.name).toEqual(validationKeywords(JSON.parse(endpoint.metadata!.response_schema!)));
    }
  });

  it("describes the stream subjects direct consumers read, as the service's metadata names them", () => {
    const stream = document.channels().all().find((c) => c.id() === "events_stream")!;
    expect(stream.address()).toBe("{stream}.events.{actorType}.{actorToken}");
    expect(stream.parameters().get("stream")?.schema()?.default()).toBe(info.metadata!.stream);
    expect(info.metadata!.events_subject).toBe(`${info.metadata!.stream}.events.>`);
    const consumed = document.operations().all().find((o) => o.channels().all()[0]?.id() === "events_stream")!;
    expect(consumed.action()).toBe("send");
    expect(consumed.messages().all()[0]!.payload()!.title()).toBe("Event");
  });
});

/**
 * What a schema checks, without what only documents it (titles, descriptions, ids) or what a
 * tool adds (the parser's x-parser-* annotations, the type generator's tsType).
 */
function validationKeywords(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(validationKeywords);
  if (schema === null || typeof schema !== "object") return schema;
  const ignored = new Set(["title", "description", "$id", "$schema", "tsType"]);
  return Object.fromEntries(
    Object.entries(schema)
      .filter(([k]) => !ignored.has(k) && !k.startsWith("x-parser-"))
      .map(([k, v]) => [k, validationKeywords(v)]),
  );
}
