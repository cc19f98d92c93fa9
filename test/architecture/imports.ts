import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import ts from "typescript";

// The import graph of src/, read from the sources (static, type-only and dynamic imports alike),
// and the arrows its parts may follow.

/** file (relative to src/, "client/client.ts") -> the src/ files it imports. */
export type ImportGraph = ReadonlyMap<string, readonly string[]>;

export function importGraph(srcDir: string): ImportGraph {
  const graph = new Map<string, string[]>();
  for (const file of tsFiles(srcDir)) {
    const text = readFileSync(join(srcDir, file), "utf8");
    const imported = ts
      .preProcessFile(text, true, true)
      .importedFiles.map((f) => f.fileName)
      .filter((spec) => spec.startsWith("."))
      .map((spec) => relative(srcDir, resolve(srcDir, dirname(file), spec)).replace(/\.js$/, ".ts"));
    graph.set(file, imported);
  }
  return graph;
}

function tsFiles(dir: string, under = ""): string[] {
  return readdirSync(join(dir, under), { withFileTypes: true }).flatMap((e) => {
    const path = under ? `${under}/${e.name}` : e.name;
    if (e.isDirectory()) return tsFiles(dir, path);
    return e.name.endsWith(".ts") && !e.name.endsWith(".d.ts") ? [path] : [];
  });
}

/** A part of src/: the files it holds, and the parts its files may import (itself included). */
export interface Part {
  readonly name: string;
  readonly holds: (file: string) => boolean;
  readonly mayImport: readonly string[];
}

/** The server's parts, top to bottom. */
const SERVER = ["process", "service", "jetstream-store", "store", "jetstream", "base"];

// What the service's layers share: its config, logger, paths and inbox names, which import no layer.
const BASE = new Set(["server/config.ts", "server/config-schema.ts", "server/logger.ts", "server/paths.ts", "server/nats/inbox.ts"]);

/**
 * The arrows: contract <- client, contract <- server, and the command line (with its web console)
 * on top of both. Inside the server, each layer depends only downwards: the process (app, main,
 * connections, observability) on everything below it; the service on the store (its interface and
 * the domain, no NATS); the store's JetStream backend on the store and on the JetStream layer (no
 * events); all of them on the base. The first part that holds a file is its part.
 */
export const PARTS: readonly Part[] = [
  { name: "contract", holds: (f) => f.startsWith("contract/"), mayImport: ["contract"] },
  { name: "client", holds: (f) => f.startsWith("client/") || f === "index.ts", mayImport: ["client", "contract"] },
  { name: "cli", holds: (f) => f.startsWith("cli/"), mayImport: ["cli", "console", "client", "contract", ...SERVER] },
  // The web console: a command of the CLI, over the client's main entry.
  { name: "console", holds: (f) => f.startsWith("console/"), mayImport: ["console", "cli", "client", "contract"] },
  { name: "base", holds: (f) => BASE.has(f), mayImport: ["base", "contract"] },
  { name: "jetstream", holds: (f) => f.startsWith("server/jetstream/"), mayImport: ["jetstream", "base", "contract"] },
  { name: "store", holds: (f) => f.startsWith("server/store/"), mayImport: ["store", "base", "contract"] },
  {
    name: "jetstream-store",
    holds: (f) => f.startsWith("server/jetstream-store/"),
    mayImport: ["jetstream-store", "store", "jetstream", "base", "contract"],
  },
  {
    name: "service",
    holds: (f) => f.startsWith("server/service/"),
    mayImport: ["service", "store", "base", "contract"],
  },
  { name: "process", holds: (f) => f.startsWith("server/") || f === "main.ts" || f === "server.ts", mayImport: [...SERVER, "contract"] },
];

export function partOf(file: string, parts: readonly Part[] = PARTS): Part {
  const part = parts.find((p) => p.holds(file));
  if (!part) throw new Error(`no part holds ${file}`);
  return part;
}

/** Every import that crosses the arrows, as "from -> to (part -> part)". */
export function crossings(graph: ImportGraph, parts: readonly Part[] = PARTS): string[] {
  const found: string[] = [];
  for (const [file, imports] of graph) {
    const from = partOf(file, parts);
    for (const target of imports) {
      const to = partOf(target, parts);
      if (!from.mayImport.includes(to.name)) found.push(`${file} -> ${target} (${from.name} -> ${to.name})`);
    }
  }
  return found;
}

/** Import circles, as their files in order: none when there is none, at least one when there is any (a depth-first walk). */
export function circles(graph: ImportGraph): string[][] {
  const found: string[][] = [];
  const state = new Map<string, "open" | "done">();
  const path: string[] = [];
  const visit = (file: string) => {
    state.set(file, "open");
    path.push(file);
    for (const next of graph.get(file) ?? []) {
      if (state.get(next) === "open") found.push(path.slice(path.indexOf(next)));
      else if (!state.has(next)) visit(next);
    }
    path.pop();
    state.set(file, "done");
  };
  for (const file of [...graph.keys()].sort()) if (!state.has(file)) visit(file);
  return found;
}

/** The files `entry` loads, itself included: everything it imports, transitively. */
export function closure(graph: ImportGraph, entry: string): Set<string> {
  const seen = new Set<string>();
  const todo = [entry];
  while (todo.length > 0) {
    const file = todo.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    todo.push(...(graph.get(file) ?? []));
  }
  return seen;
}
