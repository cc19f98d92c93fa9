import { execFile, spawnSync } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { ROOT } from "../harness/service-process.js";

// The Go client (clients/go) has its own tests, run with go test against a real nats-server and
// the built service (dist/src/main.js, which npm test builds first). This file runs them, so
// that the one test command tests everything. Go is on every machine of this project; where it
// is missing, the tests are skipped, saying why.
const GO_DIR = join(ROOT, "clients", "go");
const run = promisify(execFile);
const hasGo = spawnSync("go", ["version"], { stdio: "ignore" }).status === 0;

async function go(args: string[], timeoutMs: number): Promise<string> {
  try {
    const { stdout, stderr } = await run("go", args, {
      cwd: GO_DIR,
      // NATS_SERVER_BIN comes from the global setup (scripts/get-nats-server.sh).
      env: { ...process.env },
      timeout: timeoutMs,
      killSignal: "SIGKILL",
      maxBuffer: 16 * 1024 * 1024,
    });
    return stdout + stderr;
  } catch (err) {
    const e = err as Error & { stdout?: string; stderr?: string };
    throw new Error(`go ${args.join(" ")} failed in clients/go:\n${e.stdout ?? ""}${e.stderr ?? ""}\n${e.message}`);
  }
}

const SUITE = hasGo
  ? "Go client (clients/go)"
  : "Go client (clients/go): skipped, `go` is not on PATH; install Go (https://go.dev/dl/) to run its tests";
if (!hasGo) console.warn(SUITE);

describe.skipIf(!hasGo)(SUITE, () => {
  it("is gofmt and go vet clean", async () => {
    const gofmt = join((await go(["env", "GOROOT"], 30_000)).trim(), "bin", "gofmt");
    const unformatted = spawnSync(gofmt, ["-l", "."], { cwd: GO_DIR, encoding: "utf8" });
    expect(unformatted.status).toBe(0);
    expect(unformatted.stdout.trim(), "files gofmt would change").toBe("");
    await go(["vet", "./..."], 120_000);
  }, 150_000);

  it("passes go test against a real nats-server and the service", async () => {
    // -count=1: the results depend on the service, which Go's test cache does not track.
    const out = await go(["test", "-count=1", "-timeout", "150s", "./..."], 170_000);
    expect(out).toMatch(/^ok\s+\S+\/clients\/go\s/m);
  }, 180_000);
});
