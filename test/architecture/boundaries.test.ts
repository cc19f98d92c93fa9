import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../harness/service-process.js";
import { circles, closure, crossings, importGraph, partOf } from "./imports.js";

const graph = importGraph(join(ROOT, "src"));

describe("the import arrows of src/", () => {
  it("reads the graph: every file, every import resolving to a file of src/", () => {
    expect(graph.size).toBeGreaterThan(50);
    expect(graph.get("index.ts")).toContain("client/client.ts");
    for (const [file, imports] of graph) {
      for (const target of imports) expect(graph.has(target), `${file} imports ${target}`).toBe(true);
    }
  });

  it("has no import that crosses them: contract <- client, contract <- server, and the server's layers downwards", () => {
    expect(crossings(graph)).toEqual([]);
  });

  it("has no import circle", () => {
    expect(circles(graph)).toEqual([]);
  });

  it("loads only the client and the contract from the main entry", () => {
    const loaded = [...closure(graph, "index.ts")];
    expect(loaded.filter((f) => !["client", "contract"].includes(partOf(f).name))).toEqual([]);
  });

  it("holds every file of src/ in a part, and every file under server/ in one of the server's", () => {
    for (const file of graph.keys()) {
      const part = partOf(file).name;
      if (file.startsWith("server/")) expect(["process", "service", "jetstream-store", "store", "jetstream", "base"], file).toContain(part);
    }
  });

  // The checks themselves: each finds what it is there to find.
  it("finds a crossing, a circle, and what an entry loads", () => {
    const bad = new Map([
      ["client/a.ts", ["contract/b.ts", "server/store/c.ts"]],
      ["contract/b.ts", ["client/a.ts"]],
      ["server/store/c.ts", ["contract/b.ts"]],
      ["server/jetstream/d.ts", ["server/store/c.ts"]],
      ["server/jetstream-store/e.ts", ["server/jetstream/d.ts", "server/store/c.ts"]],
    ]);
    expect(crossings(bad)).toEqual([
      "client/a.ts -> server/store/c.ts (client -> store)",
      "contract/b.ts -> client/a.ts (contract -> client)",
      "server/jetstream/d.ts -> server/store/c.ts (jetstream -> store)",
    ]);
    expect(circles(bad)).toEqual([["client/a.ts", "contract/b.ts"]]);
    expect(circles(new Map([["server/store/c.ts", ["contract/b.ts"]]]))).toEqual([]);
    expect([...closure(bad, "server/store/c.ts")].sort()).toEqual(["client/a.ts", "contract/b.ts", "server/store/c.ts"]);
  });
});
