import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";

/**
 * The Go module that ships the official JSON Schemas of the NATS micro-v1 replies (PING, INFO,
 * STATS) under schemas/micro/v1/. It is the version the nats CLI v0.5.0 builds with, so CI's
 * `go install` of that CLI has already put it in the Go module cache.
 */
export const MICRO_SCHEMAS_MODULE = "github.com/nats-io/jsm.go@v0.5.0";

/**
 * The folder holding ping_response.json, info_response.json and stats_response.json, found (or
 * downloaded, once) through the Go module cache, the way scripts/get-nats-server.sh finds a
 * nats-server.
 */
export function microSchemasDir(): string {
  let out: string;
  try {
    out = execFileSync("go", ["mod", "download", "-json", MICRO_SCHEMAS_MODULE], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stdout?: string; stderr?: string };
    if (e.code === "ENOENT") {
      throw new Error(
        `the official micro-v1 schemas come from the Go module ${MICRO_SCHEMAS_MODULE}, and Go is not on PATH: ` +
          "install Go (https://go.dev/dl/) to run this test",
      );
    }
    // `go mod download -json` reports why a download failed in its JSON output, not on stderr.
    throw new Error(`go mod download ${MICRO_SCHEMAS_MODULE} failed: ${downloadError(e.stdout) ?? e.stderr ?? e.message}`);
  }
  const dir = join((JSON.parse(out) as { Dir: string }).Dir, "schemas", "micro", "v1");
  if (!existsSync(join(dir, "info_response.json"))) throw new Error(`${MICRO_SCHEMAS_MODULE} has no micro-v1 schemas in ${dir}`);
  return dir;
}

function downloadError(stdout: string | undefined): string | undefined {
  try {
    return (JSON.parse(stdout ?? "") as { Error?: string }).Error;
  } catch {
    return undefined;
  }
}
