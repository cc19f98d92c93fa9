// Runs before `npm start`, `npm test` and `npm run bench`: installs the locked dependencies when a
// fresh checkout has none, then brings dist/ up to date.
//   prepare.mjs          builds src/ and bench/ (what `npm start` and `npm run bench` run), and
//                        only when a file the last build read is newer than that build
//   prepare.mjs --tests  always runs the compiler, and also type-checks the tests (vitest itself
//                        only strips their types)
// The compiler runs as `tsc -b`, which keeps build info in dist/*.tsbuildinfo and recompiles only
// what an edit affects. Even with nothing to do it takes most of a second to load, which is why
// `npm start` on a built tree compares file times first and skips it.
import { execFileSync, execSync } from "node:child_process";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
// The root project's build info, and the console page's (a project of its own, referenced by the root).
const buildInfos = [join(root, "dist", "tsconfig.tsbuildinfo"), join(root, "dist", "src", "console", "page", "tsconfig.tsbuildinfo")];
// Written after a build without errors: tsc writes its build info even when the build failed.
const stamp = join(root, "dist", ".built");
const withTests = process.argv.includes("--tests");

if (!existsSync(join(root, "node_modules", ".package-lock.json"))) {
  console.error("installing dependencies (npm ci) ...");
  execSync("npm ci --no-audit --no-fund", { cwd: root, stdio: "inherit" });
}
if (withTests || !upToDate()) {
  // The compiler is run with this node rather than through npx, which alone takes half a second.
  const tsc = createRequire(join(root, "package.json")).resolve("typescript/bin/tsc");
  const projects = withTests ? ["tsconfig.json", "tsconfig.test.json"] : ["tsconfig.json"];
  try {
    execFileSync(process.execPath, [tsc, "-b", ...projects], { cwd: root, stdio: "inherit" });
  } catch {
    // tsc has printed the errors; a stack trace of this script would only bury them.
    process.exit(1);
  }
  writeFileSync(stamp, "");
}

/**
 * True when nothing the last successful build read has changed since: its source files (listed
 * in the build info), their folders (a file added or removed changes its folder's time), the
 * compiler settings and the installed dependencies. When in doubt, false: the compiler decides.
 */
function upToDate() {
  let built;
  const sources = [];
  try {
    built = statSync(stamp).mtimeMs;
    for (const buildInfo of buildInfos) {
      const files = JSON.parse(readFileSync(buildInfo, "utf8")).fileNames;
      if (!Array.isArray(files)) return false;
      sources.push(...files.map((f) => resolve(dirname(buildInfo), f)).filter((f) => !f.includes("/node_modules/")));
    }
  } catch {
    return false;
  }
  const inputs = new Set([
    ...sources,
    ...sources.map((f) => dirname(f)),
    join(root, "tsconfig.json"),
    join(root, "src", "console", "page", "tsconfig.json"),
    join(root, "node_modules", ".package-lock.json"),
  ]);
  for (const input of inputs) {
    try {
      if (statSync(input).mtimeMs > built) return false;
    } catch {
      return false;
    }
  }
  return true;
}
