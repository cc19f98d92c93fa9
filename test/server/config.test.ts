import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, connectionVariables, loadConfig } from "../../src/server/config.js";
import { ROOT } from "../harness/service-process.js";

interface Variable {
  type: string;
  description?: string;
  minimum?: number;
  maximum?: number;
}

const schema = JSON.parse(readFileSync(join(ROOT, "schemas", "config.json"), "utf8")) as {
  properties: Record<string, Variable>;
  definitions: { connection: { properties: Record<string, Variable> } };
};
const variables = { ...schema.definitions.connection.properties, ...schema.properties };

describe("config", () => {
  it("has the contract's defaults and is frozen", () => {
    const c = loadConfig({});
    expect(c).toMatchObject({ stream: "EVENTS", replicas: 1, queue: "q", logLevel: "info", backend: "jetstream" });
    expect(c.natsUrl).toBeUndefined();
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.auth)).toBe(true);
  });

  it("reads every variable", () => {
    const c = loadConfig({
      NATS_URL: "nats://a:4222,nats://b:4222",
      EVENTSTORE_STREAM: "ORDERS",
      EVENTSTORE_REPLICAS: "3",
      EVENTSTORE_QUEUE: "workers",
      EVENTSTORE_BACKEND: "memory",
      EVENTSTORE_CACHE_SIZE: "10",
      EVENTSTORE_INDEX_SIZE: "20",
      EVENTSTORE_SNAPSHOTS_KEEP: "5",
      LOG_LEVEL: "debug",
      NATS_USER: "u",
      NATS_PASSWORD: "p",
      NATS_TOKEN: "t",
      NATS_CREDS: "/c",
      NATS_NKEY: "/n",
      NATS_TLS_CA: "/ca",
      NATS_TLS_CERT: "/cert",
      NATS_TLS_KEY: "/key",
    });
    expect(c).toMatchObject({
      natsUrl: "nats://a:4222,nats://b:4222",
      stream: "ORDERS",
      replicas: 3,
      queue: "workers",
      backend: "memory",
      cacheSize: 10,
      indexSize: 20,
      snapshotsKeep: 5,
      logLevel: "debug",
      auth: {
        user: "u",
        password: "p",
        token: "t",
        credsFile: "/c",
        nkeySeedFile: "/n",
        tlsCaFile: "/ca",
        tlsCertFile: "/cert",
        tlsKeyFile: "/key",
      },
    });
  });

  it.each([
    [{ EVENTSTORE_STREAM: "A.B" }, "EVENTSTORE_STREAM"],
    [{ EVENTSTORE_STREAM: "x".repeat(33) }, "EVENTSTORE_STREAM"],
    [{ EVENTSTORE_REPLICAS: "0" }, "EVENTSTORE_REPLICAS"],
    [{ EVENTSTORE_REPLICAS: "two" }, "EVENTSTORE_REPLICAS"],
    [{ EVENTSTORE_QUEUE: "a b" }, "EVENTSTORE_QUEUE"],
    [{ LOG_LEVEL: "loud" }, "LOG_LEVEL"],
    [{ EVENTSTORE_BACKEND: "postgres" }, "EVENTSTORE_BACKEND"],
    [{ NATS_USER: "u" }, "NATS_PASSWORD"],
    [{ NATS_TLS_CERT: "/c" }, "NATS_TLS_KEY"],
    [{ EVENTSTORE_CACHE_SIZE: "-1" }, "EVENTSTORE_CACHE_SIZE"],
    [{ EVENTSTORE_INDEX_SIZE: "0" }, "EVENTSTORE_INDEX_SIZE"],
  ])("refuses %o with a message naming the variable", (env, name) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(name);
  });

  it("takes the CLI's variables from the schema's connection group", () => {
    expect(connectionVariables()).toEqual(Object.keys(schema.definitions.connection.properties));
    expect(connectionVariables()).toContain("NATS_URL");
    expect(connectionVariables()).not.toContain("EVENTSTORE_CACHE_SIZE");
  });
});

describe("schemas/config.json", () => {
  it.each(Object.entries(variables))("describes %s, with both bounds for an integer", (_name, variable) => {
    expect(variable.description).toMatch(/\S/);
    if (variable.type === "integer") {
      expect(variable.minimum).toBeTypeOf("number");
      expect(variable.maximum).toBeTypeOf("number");
    }
  });

  it("is the README's configuration table", () => {
    expect(() => execFileSync(process.execPath, [join(ROOT, "scripts", "gen-docs.mjs"), "--check"], { stdio: "pipe" })).not.toThrow();
  });
});
