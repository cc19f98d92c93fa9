import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dirname, "..", "..");

/** Finds (or fetches, once) a nats-server >= 2.12 for every test worker, and checks the build. */
export default function setup(): void {
  if (!process.env.NATS_SERVER_BIN) {
    process.env.NATS_SERVER_BIN = execFileSync("bash", [join(root, "scripts", "get-nats-server.sh")], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
    }).trim();
  }
  if (!existsSync(join(root, "dist", "src", "main.js"))) {
    throw new Error("dist/src/main.js is missing: run npm run build (npm test runs it first)");
  }
}
