import { randomUUID } from "node:crypto";
import { jetstreamManager } from "@nats-io/jetstream";
import { beforeAll, describe, expect, it } from "vitest";
import { EventStoreClient } from "../../src/client/client.js";
import { Subjects } from "../../src/contract/subjects.js";
import type { Event } from "../../src/contract/types.js";
import { events as someEvents } from "../harness/events.js";
import { useService } from "../harness/fixture.js";
import { type CliResult, finished, lines, runCli, spawnCli } from "./run-cli.js";

// An export ends at what was stored when it began: events deleted while it runs (an erase, an
// operator's purge) are not waited for, and events stored after it began are not exported.

const f = useService();
const subjects = new Subjects("EVENTS");
let client: EventStoreClient;
let env: Record<string, string>;

beforeAll(() => {
  client = new EventStoreClient(f.nc);
  env = { NATS_URL: f.server.url };
});

const DEADLINE_MS = 60_000;

/**
 * Starts `export <type>` to stdout without reading it: the CLI stops once the pipe is full (the
 * events below are far more than a pipe holds), so the test acts while the export is certainly
 * under way. Resolves once the export's consumer exists; `finish` then reads it to its end.
 */
async function startExport(type: string): Promise<{ finish: () => Promise<CliResult> }> {
  const child = spawnCli(["export", type], env);
  child.stdin!.end();
  const jsm = await jetstreamManager(f.nc);
  for (let i = 0; ; i++) {
    const consumers = await jsm.consumers.list("EVENTS").next();
    if (consumers.some((c) => c.config.filter_subject === subjects.eventsOfType(type))) break;
    if (i === 600) throw new Error("the export opened no consumer");
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    finish: async () => {
      const result = finished(child);
      let timer: NodeJS.Timeout | undefined;
      const hung = new Promise<"hung">((resolve) => (timer = setTimeout(resolve, DEADLINE_MS, "hung")));
      const outcome = await Promise.race([result, hung]);
      clearTimeout(timer);
      if (outcome === "hung") {
        child.kill("SIGKILL");
        throw new Error(`the export did not end within ${DEADLINE_MS} ms`);
      }
      return outcome;
    },
  };
}

/** A few events of `early`, then 2000 of `big`: the big actor's are the last stored of the type. */
async function history(type: string): Promise<{ early: string; big: string }> {
  const early = `${type}-early`;
  const big = `${type}-big`;
  await client.append(
    early,
    someEvents(early, 1, 10, () => ({ data: { pad: "p".repeat(100) } })),
  );
  for (const from of [1, 1001])
    await client.append(
      big,
      someEvents(big, from, 1000, () => ({ data: { pad: "p".repeat(100) } })),
    );
  return { early, big };
}

const exported = (r: CliResult) => lines(r.stdout).map((l) => JSON.parse(l) as Event);

describe("export", () => {
  it(
    "ends at what was stored when it began when an actor is erased meanwhile, without what was stored after",
    async () => {
      const type = `exp${randomUUID().slice(0, 8)}`;
      const { early, big } = await history(type);
      const run = await startExport(type);
      await client.erase(big);
      await client.append(early, someEvents(early, 11, 5));
      const r = await run.finish();
      expect(r.code, r.stderr).toBe(0);
      const events = exported(r);
      // Every event of the actor left alone, and none stored after the export began.
      expect(events.filter((e) => e.actorId === early).map((e) => e.version)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      expect(events.every((e) => e.actorId === early || e.actorId === big)).toBe(true);
      expect(r.stderr).toBe(`exported ${events.length} events\n`);
    },
    DEADLINE_MS + 30_000,
  );

  it(
    "ends when an operator purges the last events meanwhile and nothing more is stored",
    async () => {
      const type = `exp${randomUUID().slice(0, 8)}`;
      const { early, big } = await history(type);
      const run = await startExport(type);
      await (await jetstreamManager(f.nc)).streams.purge("EVENTS", { filter: subjects.events(big) });
      const r = await run.finish();
      expect(r.code, r.stderr).toBe(0);
      const events = exported(r);
      expect(events.filter((e) => e.actorId === early).map((e) => e.version)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      expect(r.stderr).toBe(`exported ${events.length} events\n`);
    },
    DEADLINE_MS + 30_000,
  );

  it("counts events, not the tombstones of erased actors it skips", async () => {
    const type = `exp${randomUUID().slice(0, 8)}`;
    await client.append(`${type}-kept`, someEvents(`${type}-kept`, 1, 64));
    await client.append(`${type}-gone`, someEvents(`${type}-gone`, 1, 3));
    await client.erase(`${type}-gone`);
    const r = await runCli(["export", type], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(exported(r).map((e) => e.version)).toEqual(Array.from({ length: 64 }, (_, i) => i + 1));
    expect(r.stderr).toBe("exported 64 events, skipped 1 tombstone of erased actors\n");
  });
});
