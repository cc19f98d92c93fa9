import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { PROM2JSON_PACKAGE } from "./metrics.js";

const root = join(import.meta.dirname, "..", "..");

/** Finds (or fetches, once) a nats-server >= 2.12 and promtool for every test worker, and checks the build. */
export default function setup(): void {
  process.env.NATS_SERVER_BIN ||= fetched("get-nats-server.sh");
  process.env.PROMTOOL_BIN ||= fetched("get-promtool.sh");
  installProm2json();
  if (!existsSync(join(root, "dist", "src", "main.js"))) {
    throw new Error("dist/src/main.js is missing: run npm run build (npm test runs it first)");
  }
}

/**
 * The metrics tests parse /metrics with prom2json, Prometheus' own parser: where Go is installed
 * and prom2json is not, it is installed once into Go's bin directory, as the nats CLI is.
 */
function installProm2json(): void {
  let gobin: string;
  try {
    gobin = join(execFileSync("go", ["env", "GOPATH"], { encoding: "utf8" }).trim(), "bin");
  } catch {
    return;
  }
  process.env.PATH = `${process.env.PATH}:${gobin}`;
  if (existsSync(join(gobin, "prom2json"))) return;
  execFileSync("go", ["install", PROM2JSON_PACKAGE], { stdio: ["ignore", "inherit", "inherit"] });
}

function fetched(script: string): string {
  return execFileSync("bash", [join(root, "scripts", script)], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }).trim();
}
