import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Ajv } from "ajv";
import addFormatsModule from "ajv-formats";
import { describe, expect, it } from "vitest";
import { Endpoints } from "../../src/contract/endpoints.js";
import { useService } from "../harness/fixture.js";
import { microSchemasDir } from "../harness/micro-schemas.js";
import { request } from "../harness/requests.js";
import { ROOT } from "../harness/service-process.js";

const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;
const microV1 = microSchemasDir();
const ajv = new Ajv({ strict: false, allErrors: true });
addFormats(ajv);
const compiled = new Map<string, ReturnType<typeof ajv.compile>>();
const official = (name: string) => {
  if (!compiled.has(name)) {
    compiled.set(name, ajv.compile(JSON.parse(readFileSync(join(microV1, `${name}_response.json`), "utf8"))));
  }
  return compiled.get(name)!;
};

const f = useService();

async function srv(verb: string): Promise<Record<string, unknown>> {
  const msg = await f.nc.request(`$SRV.${verb}.eventstore`, "", { timeout: 5000 });
  return msg.json();
}

function expectValid(schema: ReturnType<typeof official>, value: unknown): void {
  const ok = schema(value);
  expect(schema.errors ?? [], JSON.stringify(value)).toEqual([]);
  expect(ok).toBe(true);
}

describe("$SRV discovery", () => {
  it("answers PING, INFO and STATS with replies that validate against the official schemas", async () => {
    expectValid(official("ping"), await srv("PING"));
    expectValid(official("info"), await srv("INFO"));
    // before any error: last_error must already be there
    expectValid(official("stats"), await srv("STATS"));
  });

  it("describes the service, its stream and every endpoint with its JSON Schemas", async () => {
    const info = (await srv("INFO")) as {
      name: string;
      version: string;
      metadata: Record<string, string>;
      endpoints: { name: string; subject: string; queue_group: string; metadata: Record<string, string> }[];
    };
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string };
    expect(info.name).toBe("eventstore");
    expect(info.version).toBe(pkg.version);
    expect(info.metadata).toMatchObject({ stream: "EVENTS", events_subject: "EVENTS.events.>" });
    expect(info.endpoints.map((e) => [e.name, e.subject, e.queue_group])).toEqual(
      Object.entries(Endpoints).map(([name, subject]) => [name, subject, "q"]),
    );
    for (const e of info.endpoints) {
      for (const key of ["request_schema", "response_schema"]) {
        const schema = JSON.parse(e.metadata[key]!) as Record<string, unknown>;
        expect(JSON.stringify(schema)).not.toContain("$ref");
        expect(() => ajv.compile(schema), `${e.name} ${key}`).not.toThrow();
      }
    }
  });

  it("counts error replies as errors in STATS, with the last one", async () => {
    const before = (await srv("STATS")) as { endpoints: { name: string; num_errors: number; num_requests: number }[] };
    const saveBefore = before.endpoints.find((e) => e.name === "save")!;
    expect((await request(f.nc, "eventstore.save", "nope")).code).toBe(400);
    const ok = await request(f.nc, "eventstore.version", { actorId: "stats-1" });
    expect(ok.code).toBe(0);
    const after = (await srv("STATS")) as {
      endpoints: { name: string; num_errors: number; num_requests: number; last_error: string; data: Record<string, unknown> }[];
    };
    expectValid(official("stats"), after);
    const save = after.endpoints.find((e) => e.name === "save")!;
    expect(save.num_errors).toBe(saveBefore.num_errors + 1);
    expect(save.num_requests).toBe(saveBefore.num_requests + 1);
    expect(save.last_error).toMatch(/^400 /);
    expect(save.data).toMatchObject({ errors_by_code: { 400: 1 } });
    expect(after.endpoints.find((e) => e.name === "version")!.num_errors).toBe(0);
  });
});
