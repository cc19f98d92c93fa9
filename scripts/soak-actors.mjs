// Soak: test/faults/actor-cache.test.ts over far more distinct actors than CI uses, printing the
// service's RSS curve. CI runs the same test with 50,000 actors and a cache of 1,000.
//   node scripts/soak-actors.mjs [actors=1000000] [cacheSize=100000]
import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const [actors = "1000000", cacheSize = "100000"] = process.argv.slice(2);

execFileSync(process.execPath, [join(root, "scripts", "prepare.mjs")], { cwd: root, stdio: "inherit" });
try {
  execFileSync("npx", ["vitest", "run", "test/faults/actor-cache.test.ts"], {
    cwd: root,
    stdio: "inherit",
    env: { ...process.env, SOAK_ACTORS: actors, SOAK_CACHE_SIZE: cacheSize },
  });
} catch {
  process.exit(1);
}
