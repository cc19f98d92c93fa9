// Soak: the leader-kill test of test/faults/cluster.test.ts with more kills than CI's 5, printing
// the outage after each kill and what every node holds.
//   node scripts/soak-leader-kills.mjs [kills=20]
import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const [kills = "20"] = process.argv.slice(2);

execFileSync(process.execPath, [join(root, "scripts", "prepare.mjs")], { cwd: root, stdio: "inherit" });
try {
  execFileSync("npx", ["vitest", "run", "test/faults/cluster.test.ts", "-t", "stream leader is killed"], {
    cwd: root,
    stdio: "inherit",
    env: { ...process.env, SOAK_LEADER_KILLS: kills },
  });
} catch {
  process.exit(1);
}
