import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import * as client from "../../src/index.js";
import * as server from "../../src/server.js";
import { ROOT } from "../harness/service-process.js";

const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
  exports: Record<string, { types: string; default: string }>;
};

describe("the package's entry points", () => {
  it("exports the client as nats-eventstore and the server parts as nats-eventstore/server", () => {
    expect(pkg.exports["."]).toEqual({ types: "./dist/src/index.d.ts", default: "./dist/src/index.js" });
    expect(pkg.exports["./server"]).toEqual({ types: "./dist/src/server.d.ts", default: "./dist/src/server.js" });
  });

  it("gives callers the client, its errors and the subject helpers, and none of the server", () => {
    for (const name of [
      "EventStoreClient",
      "EventSubscription",
      "Projection",
      "VersionConflictError",
      "ConditionFailedError",
      "LogRead",
      "Subjects",
      "Endpoints",
    ]) {
      expect(client, name).toHaveProperty(name);
    }
    for (const name of ["startApp", "loadConfig", "ConfigError", "JetStreamEventStore", "MemoryEventStore"]) {
      expect(client, name).not.toHaveProperty(name);
    }
  });

  it("gives the server entry the app, its config, the stores and their streams", () => {
    expect(Object.keys(server).sort()).toEqual([
      "ConfigError",
      "JetStreamEventStore",
      "MemoryEventStore",
      "ensureStreams",
      "eventsStreamConfig",
      "loadConfig",
      "snapshotsStreamConfig",
      "startApp",
    ]);
  });
});
