import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ENDPOINT_NAMES, ENDPOINTS } from "../../src/contract/endpoints.js";
import { ROOT } from "../harness/service-process.js";

const subjects = ENDPOINT_NAMES.map((name) => ENDPOINTS[name].subject);

/** The quoted eventstore.* subjects of one list of deploy/permissions.conf. */
function endpointSubjects(list: string): string[] {
  return [...list.matchAll(/"(eventstore\.[^"]*)"/g)].map((m) => m[1]!);
}

describe("the endpoint table", () => {
  it("names each endpoint as micro names allow, on eventstore.<name> with _ spelled as .", () => {
    for (const name of ENDPOINT_NAMES) {
      expect(name).toMatch(/^[a-zA-Z0-9_-]+$/);
      expect(ENDPOINTS[name].subject).toBe(`eventstore.${name.replace(/_/g, ".")}`);
    }
  });

  it("points at schemas that exist in schemas/", () => {
    for (const name of ENDPOINT_NAMES) {
      for (const file of [ENDPOINTS[name].requestSchema, ENDPOINTS[name].responseSchema]) {
        expect(existsSync(join(ROOT, "schemas", file)), `${name}: ${file}`).toBe(true);
      }
    }
  });

  it("is what deploy/permissions.conf lets the service subscribe to, and no role names another endpoint", () => {
    const conf = readFileSync(join(ROOT, "deploy", "permissions.conf"), "utf8");
    const service = conf.match(/EVENTSTORE_SERVICE: \{[\s\S]*?subscribe: \{\s*allow: \[([\s\S]*?)\]/)?.[1];
    expect(service, "the EVENTSTORE_SERVICE subscribe list").toBeDefined();
    expect(endpointSubjects(service!)).toEqual(subjects);
    for (const subject of endpointSubjects(conf)) expect(subjects).toContain(subject);
  });
});
