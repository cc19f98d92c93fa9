import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import specs from "@asyncapi/specs";
import type { ServiceInfo } from "@nats-io/services";
import { connect, Empty, type NatsConnection } from "@nats-io/transport-node";
import { Ajv } from "ajv";
import addFormatsModule from "ajv-formats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { ENDPOINT_NAMES, ENDPOINTS } from "../../src/contract/endpoints.js";
import { type NatsServer, startNatsServer } from "../harness/nats-server.js";
import { ROOT, type ServiceProcess, startServiceProcess } from "../harness/service-process.js";

const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;
const FILE = join(ROOT, "asyncapi.yaml");

interface Ref {
  $ref: string;
}
interface Message {
  headers?: { properties?: Record<string, unknown> };
  payload: Ref;
}
interface Operation {
  action: string;
  channel: Ref;
  messages: Ref[];
  reply?: { channel: Ref; messages: Ref[] };
}
interface Channel {
  address: string | null;
  messages: Record<string, Ref>;
  parameters?: Record<string, { default?: string }>;
}
interface Document {
  asyncapi: string;
  info: { version: string };
  channels: Record<string, Channel>;
  operations: Record<string, Operation>;
  components: { messages: Record<string, Message> };
}

const doc = parseYaml(readFileSync(FILE, "utf8")) as Document;
let server: NatsServer;
let service: ServiceProcess;
let nc: NatsConnection;
let info: ServiceInfo;

beforeAll(async () => {
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

/** Follows a reference inside asyncapi.yaml ("#/channels/save/messages/request"), through references. */
function follow<T>(ref: Ref): T {
  let node: unknown = doc;
  for (const part of ref.$ref.replace(/^#\//, "").split("/")) {
    node = (node as Record<string, unknown> | undefined)?.[part];
  }
  if (node === undefined) throw new Error(`unresolved $ref ${ref.$ref}`);
  const next = node as Partial<Ref>;
  return typeof next.$ref === "string" && next.$ref.startsWith("#/") ? follow<T>(next as Ref) : (node as T);
}

/** Every $ref in a part of the document. */
function refsIn(node: unknown): Ref[] {
  if (node === null || typeof node !== "object") return [];
  const here = typeof (node as Partial<Ref>).$ref === "string" ? [node as Ref] : [];
  return [...here, ...Object.values(node).flatMap(refsIn)];
}

/** A message's id: its name in the channel it belongs to ("reply", "error"). */
const messageId = (ref: Ref) => ref.$ref.split("/").pop()!;

/**
 * A payload schema with every $ref to a file (and a pointer in it) replaced by what it points at,
 * the $ref's sibling keywords kept: what a tool reading the document sees.
 */
function payload(message: Message): Record<string, unknown> {
  const inline = (node: unknown, file: string): unknown => {
    if (Array.isArray(node)) return node.map((n) => inline(n, file));
    if (node === null || typeof node !== "object") return node;
    const { $ref, ...siblings } = node as Record<string, unknown>;
    const here = Object.fromEntries(Object.entries(siblings).map(([k, v]) => [k, inline(v, file)]));
    if (typeof $ref !== "string") return here;
    const [target, pointer = ""] = $ref.split("#");
    const targetFile = target ? join(dirname(file), target) : file;
    let resolved: unknown = JSON.parse(readFileSync(targetFile, "utf8"));
    for (const part of pointer.split("/").filter(Boolean)) resolved = (resolved as Record<string, unknown>)[part];
    if (resolved === undefined) throw new Error(`unresolved $ref ${$ref} in ${file}`);
    return { ...(inline(resolved, targetFile) as Record<string, unknown>), ...here };
  };
  return inline(message.payload, FILE) as Record<string, unknown>;
}

/** The request/reply operations: those the service receives on an eventstore subject. */
function endpointOperations(): Map<string, string> {
  const ops = new Map<string, string>();
  for (const [id, op] of Object.entries(doc.operations)) {
    const address = follow<Channel>(op.channel).address ?? "";
    if (op.action === "receive" && address.startsWith("eventstore.")) ops.set(id, address);
  }
  return ops;
}

describe("asyncapi.yaml", () => {
  it("is a valid AsyncAPI 3 document, versioned as the package and the running service", () => {
    expect(doc.asyncapi).toMatch(/^3\./);
    const schema = specs.schemas[doc.asyncapi as keyof typeof specs.schemas];
    expect(schema, `@asyncapi/specs has no schema for AsyncAPI ${doc.asyncapi}`).toBeDefined();
    // The AsyncAPI schema bundles its own copy of the draft-07 meta-schema, which would clash
    // with the one ajv adds by default.
    const ajv = new Ajv({ strict: false, allErrors: true, meta: false, validateSchema: false });
    addFormats(ajv);
    const validate = ajv.compile(schema);
    validate(doc);
    expect(validate.errors?.map((e) => `${e.instancePath}: ${e.message}`) ?? []).toEqual([]);
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string };
    expect(doc.info.version).toBe(pkg.version);
    expect(info.version).toBe(pkg.version);
  });

  it("resolves every reference", () => {
    const local = refsIn(doc).filter((ref) => ref.$ref.startsWith("#/"));
    expect(local.length).toBeGreaterThan(0);
    for (const ref of local) expect(() => follow(ref), ref.$ref).not.toThrow();
    // the others are payload schemas, with references of their own
    for (const [name, message] of Object.entries(doc.components.messages)) expect(() => payload(message), name).not.toThrow();
  });

  it("describes every endpoint of the table, on its subject, and nothing else, as the running service registers them", () => {
    const table = new Map(ENDPOINT_NAMES.map((name) => [name, ENDPOINTS[name].subject]));
    expect(endpointOperations()).toEqual(table);
    expect(new Map(info.endpoints.map((e) => [e.name, e.subject]))).toEqual(table);
  });

  it("answers each request with the endpoint's reply or the error reply", () => {
    for (const id of endpointOperations().keys()) {
      const reply = doc.operations[id]!.reply;
      expect(reply, id).toBeDefined();
      expect(reply!.messages.map(messageId).sort(), id).toEqual(["error", "reply"]);
      const error = follow<Message>(reply!.messages.find((m) => messageId(m) === "error")!);
      expect(Object.keys(error.headers?.properties ?? {}).sort()).toEqual(["Nats-Service-Error", "Nats-Service-Error-Code"]);
    }
  });

  it("references the payload schemas in schemas/ rather than copying them, those of the table for each endpoint", () => {
    const refs = Object.fromEntries(Object.entries(doc.components.messages).map(([name, m]) => [name, m.payload.$ref]));
    for (const [name, ref] of Object.entries(refs)) {
      expect(ref, name).toMatch(/^\.\/schemas\/[a-z_.]+\.json$/);
      expect(existsSync(join(ROOT, ref!)), ref).toBe(true);
    }
    for (const name of ENDPOINT_NAMES) {
      const channel = doc.channels[name]!;
      const replies = doc.channels[`${name}_reply`]!;
      const payloadOf = (ref: string) => refs[ref.split("/").pop()!];
      expect(payloadOf(channel.messages.request!.$ref)).toBe(`./schemas/${ENDPOINTS[name].requestSchema}`);
      expect(payloadOf(replies.messages.reply!.$ref)).toBe(`./schemas/${ENDPOINTS[name].responseSchema}`);
      expect(payloadOf(replies.messages.error!.$ref)).toBe("./schemas/error.json");
    }
  });

  it("resolves each endpoint's schemas to the ones the running service reports in its metadata", () => {
    for (const endpoint of info.endpoints) {
      const op = doc.operations[endpoint.name]!;
      const request = payload(follow<Message>(op.messages[0]!));
      const reply = payload(follow<Message>(op.reply!.messages.find((m) => messageId(m) === "reply")!));
      expect(validationKeywords(request), endpoint.name).toEqual(validationKeywords(JSON.parse(endpoint.metadata!.request_schema!)));
      expect(validationKeywords(reply), endpoint.name).toEqual(validationKeywords(JSON.parse(endpoint.metadata!.response_schema!)));
    }
  });

  it("describes the stream subjects direct consumers read, as the service's metadata names them", () => {
    const stream = doc.channels.events_stream!;
    expect(stream.address).toBe("{stream}.events.{actorType}.{actorToken}");
    expect(stream.parameters?.stream?.default).toBe(info.metadata!.stream);
    expect(info.metadata!.events_subject).toBe(`${info.metadata!.stream}.events.>`);
    const consumed = Object.values(doc.operations).find((o) => follow<Channel>(o.channel) === stream)!;
    expect(consumed.action).toBe("send");
    expect(payload(follow<Message>(consumed.messages[0]!)).title).toBe("Event");
  });
});

/**
 * What a schema checks, without what only documents it (titles, descriptions, ids), what the
 * type generator adds (tsType), or definitions: once every $ref is inlined they only hold what
 * the $refs pointed at (query.json's item, for a condition).
 */
function validationKeywords(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(validationKeywords);
  if (schema === null || typeof schema !== "object") return schema;
  const ignored = new Set(["title", "description", "$id", "$schema", "tsType", "definitions"]);
  return Object.fromEntries(
    Object.entries(schema)
      .filter(([k]) => !ignored.has(k))
      .map(([k, v]) => [k, validationKeywords(v)]),
  );
}
