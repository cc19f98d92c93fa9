import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dirname, "..", "..");

/** Finds (or fetches, once) a nats-server >= 2.12 and promtool for every test worker, and checks the build. */
export default function setup(): void {
  process.env.NATS_SERVER_BIN ||= fetched("get-nats-server.sh");
  process.env.PROMTOOL_BIN ||= fetched("get-promtool.sh");
  if (!existsSync(join(root, "dist", "src", "main.js"))) {
    throw new Error("dist/src/main.js is missing: run npm run build (npm test runs it first)");
  }
}

function fetched(script: string): string {
  return execFileSync("bash", [join(root, "scripts", script)], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }).trim();
}
