import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, it } from "vitest";
import { ROOT } from "../harness/service-process.js";

// The benchmark's quick mode, so that it never rots. It asserts what was measured, never how fast.
it("runs the quick benchmark end to end and reports every measure", async () => {
  const out = mkdtempSync(join(tmpdir(), "es-bench-"));
  try {
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(
        process.execPath,
        [join(ROOT, "dist", "bench", "run.js")],
        { env: { ...process.env, BENCH_QUICK: "1", BENCH_OUT: out }, timeout: 170_000 },
        (err, so, se) => (err ? reject(new Error(`${err.message}\n${se}`)) : resolve(so)),
      );
    });
    const result = JSON.parse(readFileSync(join(out, "quick.json"), "utf8")) as Record<string, unknown> & {
      saves: {
        concurrency: number;
        limit: { opsPerSec: number };
        service: { opsPerSec: number };
        pairs: { floor: { opsPerSec: number } }[];
      }[];
      saveLatency: { raw: { p50: number }; service: { p50: number }; floor: { p50: number } };
      reads: { streamMessages: number }[];
      append: { eventsPerSec?: number; skipped?: string };
      transact: { concurrency: number; actors: number; eventsPerActor: number; eventsPerSec: number }[];
      tagReads: { streamMessages: number; service: { p50: number } }[];
      conditional: { skipped?: string; pairs?: { conditional: { opsPerSec: number } }[] };
      conditionalR3: { skipped?: string; pairs?: { conditional: { opsPerSec: number } }[] };
    };
    expect(result.saves.map((s) => s.concurrency)).toEqual([1, 16, 64, 256]);
    for (const s of result.saves) {
      expect(s.limit.opsPerSec).toBeGreaterThan(0);
      expect(s.service.opsPerSec).toBeGreaterThan(0);
      for (const p of s.pairs) expect(p.floor.opsPerSec).toBeGreaterThan(0);
    }
    for (const way of ["raw", "service", "floor"] as const) expect(result.saveLatency[way].p50).toBeGreaterThan(0);
    expect(stdout).toContain("| save through the floor service |");
    expect(result.reads.map((r) => r.streamMessages)).toEqual([3_000, 10_000, 30_000].map((n) => expect.closeTo(n, -3)));
    expect(result.append.skipped).toBeUndefined();
    expect(result.tagReads.map((r) => r.streamMessages)).toEqual(result.reads.map((r) => r.streamMessages));
    for (const r of result.tagReads) expect(r.service.p50).toBeGreaterThan(0);
    expect(result.conditional.skipped).toBeUndefined();
    for (const p of result.conditional.pairs!) expect(p.conditional.opsPerSec).toBeGreaterThan(0);
    expect(result.conditionalR3.skipped).toBeUndefined();
    for (const p of result.conditionalR3.pairs!) expect(p.conditional.opsPerSec).toBeGreaterThan(0);
    expect(stdout).toContain("| read: 20-event tag, stream of");
    expect(result.transact.map((t) => [t.concurrency, t.actors, t.eventsPerActor])).toEqual([
      [32, 2, 1],
      [32, 10, 10],
    ]);
    for (const t of result.transact) expect(t.eventsPerSec).toBeGreaterThan(0);
    expect(stdout).toContain("- transaction of 10 actors × 10 events at 32 in flight:");
    expect(result.projection).toMatchObject({ events: 5000, rounds: [{}, {}, {}] });
    expect(stdout).toContain("- ordered projection, no-op handler, 5,000 events:");
    expect(result.fullReadDirect).toMatchObject({ events: 2000 });
    expect(stdout).toContain("- the same read with no consumer to be had");
    expect(readFileSync(join(out, "quick.svg"), "utf8")).toContain("<svg");
    expect(stdout).toContain("| saves, in flight |");
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}, 180_000);
