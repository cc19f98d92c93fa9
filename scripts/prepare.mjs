// Runs before `npm start` and `npm test`: installs the locked dependencies when a fresh
// checkout has none, then compiles TypeScript to dist/.
import { execSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const run = (cmd) => execSync(cmd, { cwd: root, stdio: "inherit" });

if (!existsSync(join(root, "node_modules", ".package-lock.json"))) {
  console.error("installing dependencies (npm ci) ...");
  run("npm ci --no-audit --no-fund");
}
run("npx tsc -p tsconfig.json");
// The tests are type-checked too (vitest itself only strips their types).
run("npx tsc -p tsconfig.test.json");
