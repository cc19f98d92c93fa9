import { defineConfig } from "vitest/config";

// Three tiers, all run by `npm test`:
// - unit: no server, no process of the service (`npm run test:unit`, seconds);
// - system: faults, clusters and security, the slow and the hostile;
// - integration: everything else, against real nats-servers and service processes.
// A new test file is an integration test unless it is listed here or lives under a system folder.
const UNIT = [
  "test/architecture/**/*.test.ts",
  "test/cli/progress.test.ts",
  "test/contract/endpoints.test.ts",
  "test/contract/errors.test.ts",
  "test/contract/subjects.test.ts",
  "test/contract/validation.test.ts",
  "test/jetstream/codes.test.ts",
  "test/observability/write-counters.test.ts",
  "test/server/config.test.ts",
  "test/store/condition.test.ts",
  "test/store/decide.test.ts",
  "test/store/memory.test.ts",
  "test/store/seq-index.test.ts",
  "test/store/tag-layout.test.ts",
  "test/store/tag-link.test.ts",
];
const SYSTEM = ["test/faults/**/*.test.ts", "test/security/**/*.test.ts"];

export default defineConfig({
  test: {
    globalSetup: ["test/harness/global-setup.ts"],
    pool: "forks",
    // For all the projects together: the machine's two cores.
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    projects: [
      { extends: true, test: { name: "unit", include: UNIT } },
      { extends: true, test: { name: "integration", include: ["test/**/*.test.ts"], exclude: [...UNIT, ...SYSTEM] } },
      { extends: true, test: { name: "system", include: SYSTEM } },
    ],
  },
});
