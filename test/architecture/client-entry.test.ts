import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { ROOT } from "../harness/service-process.js";

const run = promisify(execFile);
const DIST = join(ROOT, "dist", "src");
const dir = mkdtempSync(join(tmpdir(), "client-entry-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The modules of dist/src/ that a fresh node process loads to import `entry`, relative to dist/src/. */
async function modulesLoadedBy(entry: string): Promise<string[]> {
  const record = join(dir, `${entry.replace(/\W/g, "_")}.txt`);
  const hooks = pathToFileURL(join(ROOT, "test", "architecture", "record-loads.mjs")).href;
  const script = `await import(${JSON.stringify(pathToFileURL(join(DIST, entry)).href)});`;
  await run(process.execPath, ["--import", hooks, "--input-type=module", "-e", script], {
    env: { ...process.env, RECORD_LOADS: record },
  });
  const urls = readFileSync(record, "utf8").split("\n").filter(Boolean);
  return [...new Set(urls.map((u) => fileURLToPath(u)).filter((p) => p.startsWith(DIST)))].map((p) => relative(DIST, p)).sort();
}

describe("the package's main entry", () => {
  it("loads the client and the contract, and no module of the service", async () => {
    const loaded = await modulesLoadedBy("index.js");
    expect(loaded).toContain("client/client.js");
    expect(loaded).toContain("contract/endpoints.js");
    expect(loaded.filter((m) => m !== "index.js" && !m.startsWith("client/") && !m.startsWith("contract/"))).toEqual([]);
  });

  it("is told apart from the server entry, which loads the service's modules", async () => {
    const loaded = await modulesLoadedBy("server.js");
    expect(loaded).toContain("server/app.js");
    expect(loaded.filter((m) => !m.startsWith("client/") && !m.startsWith("contract/")).length).toBeGreaterThan(10);
  });
});
