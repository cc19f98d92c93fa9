import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { afterEach, beforeEach, expect, it } from "vitest";
import { useNatsServer } from "../harness/fixture.js";
import {
  createEventsStream,
  handledCount,
  PIN_TTL_MS,
  publishEvents,
  type Runner,
  type RunnerLine,
  readModelEnv,
  runnerEnv,
  startRunner,
  stopRunner,
  until,
} from "../harness/projection-processes.js";

// Real processes of one ordered projection, paused (SIGSTOP), slow or killed: at most one of them
// handles at a time, and the README's read model ends exactly right.
const f = useNatsServer();
const runners: Runner[] = [];

beforeEach(async () => {
  await createEventsStream(f.nc);
});
afterEach(async () => {
  for (const r of runners.splice(0)) {
    if (r.child.signalCode === null && r.child.exitCode === null) r.child.kill("SIGCONT");
    await stopRunner(r, "SIGKILL");
  }
  const jsm = await jetstreamManager(f.nc);
  for (const stream of ["EVENTS", "EVENTS_PROJECTIONS", "KV_order_totals"]) await jsm.streams.delete(stream).catch(() => undefined);
});

const states = (r: Runner) => r.lines().filter((l) => l.t === "active" || l.t === "standby");

it("a process paused past the pin TTL while handling does nothing more when it resumes: the README's read model ends exactly right", async () => {
  // One order, 200 items: every event reads and writes the same row.
  const total = 200;
  const price = (n: number) => (n % 7) + 1;
  const js = jetstream(f.nc);
  for (let n = 1; n <= total; n++) {
    await js.publish(
      "EVENTS.events.order.order-1",
      JSON.stringify({ id: `e-${n}`, eventType: "ItemAdded", actorId: "order-1", version: n, data: { price: price(n) } }),
    );
  }
  // It stops itself in its 20th handler, after reading the row, before writing it.
  const a = await startRunner(0, f.server.url, { ...readModelEnv(), PAUSE_BEFORE_WRITE: "20" });
  runners.push(a);
  await until(() => a.lines().some((l) => l.t === "paused"), 30_000, "the active process to pause in its 20th handler");
  const pausedAt = a.lines().flatMap((l) => (l.t === "paused" ? [l.at] : []))[0]!;
  const b = await startRunner(1, f.server.url, readModelEnv());
  runners.push(b);
  const kv = await new Kvm(f.nc).open("order_totals");
  const row = async () => (await kv.get("order-1"))?.json<{ total: number; items: number }>();
  await until(() => b.isActive(), PIN_TTL_MS + 20_000, "the standby to take over");
  await expect.poll(async () => (await row())?.items, { timeout: 30_000 }).toBe(total);
  // Paused 7 s in all, more than twice the pin TTL; meanwhile the other process applied everything.
  await new Promise((r) => setTimeout(r, Math.max(0, pausedAt + 7000 - Date.now())));
  a.child.kill("SIGCONT");
  // It finds out (its late write refused, or its pull timer's gap) and stands by.
  await until(() => states(a).at(-1)?.t === "standby", 20_000, "the resumed process to stand by");
  const expected = { total: Array.from({ length: total }, (_, i) => price(i + 1)).reduce((x, y) => x + y, 0), items: total };
  expect(await row()).toMatchObject(expected);
  // Whatever it still had buffered changes nothing either.
  await new Promise((r) => setTimeout(r, 2 * PIN_TTL_MS));
  expect(await row()).toMatchObject(expected);
  expect(states(a).filter((l) => l.t === "active")).toHaveLength(1);
}, 120_000);

/** The handler runs of a runner as [begin, end] wall-clock times. */
function runs(r: Runner): [number, number][] {
  const begun = new Map<number, number>();
  const out: [number, number][] = [];
  for (const l of r.lines() as RunnerLine[]) {
    if (l.t === "b") begun.set(l.s, l.at);
    else if (l.t === "h" && l.at !== undefined && begun.has(l.s)) out.push([begun.get(l.s)!, l.at]);
  }
  return out;
}

it("with a slow handler (250 ms) two healthy processes never swap nor overlap", async () => {
  const env = { ...runnerEnv("slow"), HANDLER_MS: "250" };
  for (let i = 0; i < 2; i++) runners.push(await startRunner(i, f.server.url, env));
  await publishEvents(f.nc, 1, 200);
  // 20 s of handling: over six pin TTLs.
  await until(() => handledCount(runners) >= 80, 60_000, "80 events handled");
  const changes = runners.flatMap(states);
  expect(changes.filter((l) => l.t === "active")).toHaveLength(1);
  expect(changes.filter((l) => l.t === "standby")).toHaveLength(0);
  const [first, second] = runners.map(runs);
  const overlaps = first!.filter(([b1, e1]) => second!.some(([b2, e2]) => b1 < e2 && b2 < e1));
  expect(overlaps).toEqual([]);
}, 120_000);

it("a standby takes over a dead active's events within the pin TTL when nothing new arrives, not after their ack wait", async () => {
  const env = { ...runnerEnv("held"), HANDLER_MS: "100" };
  for (let i = 0; i < 2; i++) runners.push(await startRunner(i, f.server.url, env));
  await publishEvents(f.nc, 1, 60);
  await until(() => handledCount(runners) >= 5, 20_000, "5 events handled");
  const a = runners.find((r) => r.isActive())!;
  // It dies holding the rest; nothing new is stored after.
  a.child.kill("SIGKILL");
  const killedAt = Date.now();
  // The ack wait is 30 s: well before it, the standby has them all.
  await until(() => handledCount(runners) >= 60, 20_000, "every event handled");
  console.log(`held events taken over and handled ${Date.now() - killedAt} ms after the SIGKILL (pin TTL ${PIN_TTL_MS} ms)`);
}, 120_000);
