import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ValidationError } from "../../src/contract/errors.js";
import { bundleSchema, loadSchemas, RequestValidator } from "../../src/server/service/validation.js";
import { ROOT } from "../harness/service-process.js";

const validator = new RequestValidator({ maxDepth: 16, maxRequestBytes: 2048 });
const bytes = (v: unknown) => (v instanceof Uint8Array ? v : new TextEncoder().encode(typeof v === "string" ? v : JSON.stringify(v)));
const event = { id: "e1", eventType: "T", actorId: "order-1", version: 1, data: {} };

function refused(endpoint: Parameters<typeof validator.parse>[0], body: unknown): ValidationError {
  try {
    validator.parse(endpoint, bytes(body));
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return err as ValidationError;
  }
  throw new Error(`accepted ${JSON.stringify(body)}`);
}

describe("request validation", () => {
  it("accepts a valid request and returns it", () => {
    expect(validator.parse("save", bytes(event))).toEqual(event);
    expect(validator.parse("events", bytes({ actorId: "a", fromVersion: 0, limit: 10000 }))).toEqual({
      actorId: "a",
      fromVersion: 0,
      limit: 10000,
    });
  });

  it("names the failing field path", () => {
    expect(refused("save", { ...event, version: 0 }).errors[0]).toEqual({ path: "/version", message: "must be >= 1" });
    expect(refused("save", { ...event, data: undefined }).errors[0]).toEqual({ path: "/data", message: "is required" });
    expect(refused("save", { ...event, x: 1 }).errors[0]).toEqual({ path: "/x", message: "is not allowed" });
    expect(refused("save", { ...event, metadata: { a: 1 } }).errors[0]?.path).toBe("/metadata/a");
    expect(refused("snapshot_save", { actorId: "a", version: 1, state: [] }).errors[0]?.path).toBe("/state");
  });

  it("refuses depth, size and __proto__ before they can hurt", () => {
    let deep: Record<string, unknown> = {};
    for (let i = 0; i < 20; i++) deep = { nested: deep };
    expect(refused("save", { ...event, data: deep }).message).toContain("deeper than 16");
    expect(refused("save", { ...event, data: { s: "x".repeat(3000) } }).message).toContain("too large");
    expect(refused("save", `{"id":"e","eventType":"T","actorId":"a","version":1,"data":{"x":{"__proto__":{}}}}`).message).toContain(
      "/data/x/__proto__",
    );
    // a "__proto__" inside a string value is just text
    expect(validator.parse("save", bytes({ ...event, data: { note: '"__proto__"' } }))).toMatchObject({ data: { note: '"__proto__"' } });
  });

  it("refuses a body that starts with a byte order mark on every endpoint: what is stored is what was parsed", () => {
    const bom = [0xef, 0xbb, 0xbf];
    const bodies = {
      save: event,
      append: { actorId: "order-1", events: [event] },
      transact: { appends: [{ actorId: "order-1", events: [event] }] },
      snapshot_save: { actorId: "order-1", version: 1, state: {} },
      events: { actorId: "order-1" },
      version: { actorId: "order-1" },
      snapshot_get: { actorId: "order-1" },
      erase: { actorId: "order-1" },
    } as const;
    for (const [endpoint, body] of Object.entries(bodies) as [keyof typeof bodies, unknown][]) {
      expect(validator.parse(endpoint, bytes(body)), endpoint).toEqual(body);
      const message = refused(endpoint, new Uint8Array([...bom, ...bytes(body)])).message;
      expect(message, endpoint).toContain("byte order mark");
    }
    // inside a string, U+FEFF is a character like any other
    expect(validator.parse("save", bytes({ ...event, data: { note: "\ufeffx" } }))).toMatchObject({ data: { note: "\ufeffx" } });
  });

  it("refuses bytes that a decoder would replace with U+FFFD", () => {
    const inString = (b: number[]) =>
      new Uint8Array([...bytes('{"id":"e1","eventType":"T","actorId":"order-1","version":1,"data":{"s":"'), ...b, ...bytes('"}}')]);
    for (const b of [[0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0xff], [0xf4, 0x90, 0x80, 0x80]]) {
      expect(refused("save", inString(b)).message, b.join(",")).toContain("not valid UTF-8");
    }
  });

  it("refuses integer fields written with a fraction or exponent, naming the field, and keeps such numbers in data", () => {
    const withNumber = (text: string) => text.replace('"version":1', '"version":NUMBER');
    const cases: [Parameters<typeof validator.parse>[0], string, string][] = [
      ["save", `{"id":"e1","eventType":"T","actorId":"order-1","version":NUMBER,"data":{}}`, "/version"],
      ["snapshot_save", `{"actorId":"order-1","version":NUMBER,"state":{}}`, "/version"],
      ["events", `{"actorId":"order-1","fromVersion":NUMBER}`, "/fromVersion"],
      ["events", `{"actorId":"order-1","limit":NUMBER}`, "/limit"],
      [
        "append",
        `{"actorId":"order-1","events":[${JSON.stringify(event)},${withNumber(JSON.stringify({ ...event, id: "e2" }))}]}`,
        "/events/1/version",
      ],
      [
        "transact",
        `{"appends":[{"actorId":"a","events":[${JSON.stringify({ ...event, actorId: "a" })}]},{"actorId":"order-1","events":[${withNumber(JSON.stringify({ ...event, id: "e2" }))}]}]}`,
        "/appends/1/events/0/version",
      ],
      // the key spelled with an escape is still "version"
      ["save", `{"id":"e1","eventType":"T","actorId":"order-1","\u0076ersion":NUMBER,"data":{}}`, "/version"],
    ];
    for (const [endpoint, template, path] of cases) {
      expect(validator.parse(endpoint, bytes(template.replace("NUMBER", "2"))), template).toBeDefined();
      for (const literal of ["2.0", "2e0", "2E0", "2.00e+0", "20e-1", "2.0000000000000000000000000000000000000000001"]) {
        const error = refused(endpoint, template.replace("NUMBER", literal));
        expect(error.message, `${endpoint} ${literal}`).toContain(`${path} must be written as an integer`);
        expect(error.errors, `${endpoint} ${literal}`).toEqual([
          { path, message: "must be written as an integer (no fraction or exponent)" },
        ]);
      }
    }
    // data and state are stored as sent: 1.0 there is the caller's, whatever its key
    const data = `{"version":1.0,"limit":2e0,"n":[1.5,{"version":3.0}]}`;
    expect(validator.parse("save", bytes(`{"id":"e1","eventType":"T","actorId":"order-1","version":1,"data":${data}}`))).toMatchObject({
      version: 1,
    });
    expect(validator.parse("snapshot_save", bytes(`{"actorId":"order-1","version":1,"state":${data}}`))).toMatchObject({ version: 1 });
    expect(
      validator.parse(
        "append",
        bytes(`{"actorId":"order-1","events":[{"id":"e1","eventType":"T","actorId":"order-1","version":1,"data":${data}}]}`),
      ),
    ).toBeDefined();
    // a value that is no integer, or out of range, is still the schema's to name
    expect(refused("save", { ...event, version: 1.5 }).errors[0]).toEqual({ path: "/version", message: "must be integer" });
    expect(refused("save", `{"id":"e1","eventType":"T","actorId":"order-1","version":1e16,"data":{}}`).errors[0]?.path).toBe("/version");
  });

  it("accepts exactly RFC 3339 date-times", () => {
    const accepted = [
      "2024-01-01T10:00:00Z",
      "2024-01-01t10:00:00z",
      "2024-01-01T10:00:00.123456789012Z",
      "2024-01-01T10:00:00+01:00",
      "2024-01-01T10:00:00-23:59",
      "0000-01-01T00:00:00Z",
      "2024-02-29T00:00:00Z",
      "2016-12-31T23:59:60Z",
      "2016-12-31T23:59:60.5Z",
      "2016-12-31T15:59:60-08:00",
      "2017-01-01T00:59:60+01:00",
      "2015-06-30T23:59:60Z",
    ];
    const refusedTimes = [
      "2024-01-01 10:00:00Z",
      "2024-01-01T10:00:00+0100",
      "2024-01-01T10:00:00+01",
      "2024-01-01T10:00:00",
      "2024-01-01T10:00Z",
      "2024-01-01T10:00:00.Z",
      "2024-01-01T10:00:00,5Z",
      "2023-02-29T00:00:00Z",
      "2024-04-31T00:00:00Z",
      "2024-01-01T24:00:00Z",
      "2024-01-01T10:60:00Z",
      "2024-01-01T10:00:00+24:00",
      "2024-01-01T10:00:60Z",
      "2016-12-30T23:59:60Z",
      "2016-12-31T23:58:60Z",
      "2016-12-31T23:59:60+01:00",
      "2016-12-31T23:59:61Z",
      "+2024-01-01T10:00:00Z",
      "2024-01-01T10:00:00Z\n",
      "\u0662\u0660\u0662\u0664-01-01T00:00:00Z",
    ];
    for (const timestamp of accepted) {
      expect(validator.parse("save", bytes({ ...event, timestamp })), timestamp).toMatchObject({ timestamp });
      expect(validator.parse("snapshot_save", bytes({ actorId: "a", version: 1, state: {}, timestamp })), timestamp).toMatchObject({
        timestamp,
      });
    }
    for (const timestamp of refusedTimes) {
      expect(refused("save", { ...event, timestamp }).errors[0], timestamp).toEqual({
        path: "/timestamp",
        message: 'must match format "date-time"',
      });
      expect(refused("snapshot_save", { actorId: "a", version: 1, state: {}, timestamp }).errors[0]?.path, timestamp).toBe("/timestamp");
    }
  });

  it("bundles every endpoint schema into one self-contained document", () => {
    const schemas = loadSchemas();
    for (const file of schemas.keys()) {
      if (file === "common.json") continue;
      const bundled = JSON.stringify(bundleSchema(schemas, file));
      expect(bundled, file).not.toContain("$ref");
      expect(bundled, file).not.toContain("tsType");
    }
  });

  it("keeps src/contract/types.ts generated from schemas/", () => {
    expect(() => execFileSync(process.execPath, [join(ROOT, "scripts", "gen-types.mjs"), "--check"], { stdio: "pipe" })).not.toThrow();
  });
});
