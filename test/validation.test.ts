import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ValidationError } from "../src/errors.js";
import { bundleSchema, loadSchemas, RequestValidator } from "../src/validation.js";
import { ROOT } from "./harness/service-process.js";

const validator = new RequestValidator({ maxDepth: 16, maxRequestBytes: 2048 });
const bytes = (v: unknown) => new TextEncoder().encode(typeof v === "string" ? v : JSON.stringify(v));
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

  it("bundles every endpoint schema into one self-contained document", () => {
    const schemas = loadSchemas();
    for (const file of schemas.keys()) {
      if (file === "common.json") continue;
      const bundled = JSON.stringify(bundleSchema(schemas, file));
      expect(bundled, file).not.toContain("$ref");
      expect(bundled, file).not.toContain("tsType");
    }
  });

  it("keeps src/schemas/types.ts generated from schemas/", () => {
    expect(() => execFileSync(process.execPath, [join(ROOT, "scripts", "gen-types.mjs"), "--check"], { stdio: "pipe" })).not.toThrow();
  });
});
