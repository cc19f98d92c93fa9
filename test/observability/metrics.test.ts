import { randomUUID } from "node:crypto";
import { AckPolicy, jetstreamManager } from "@nats-io/jetstream";
import { describe, expect, it, vi } from "vitest";
import { event } from "../harness/events.js";
import { useService } from "../harness/fixture.js";
import { get, METRICS_ENV, metricsPort, promtoolProblems, Scrape } from "../harness/metrics.js";
import { request } from "../harness/requests.js";

const f = useService({ env: METRICS_ENV });

/** How much each series grew between two scrapes. */
const grew =
  (before: Scrape, after: Scrape) =>
  (name: string, labels: Record<string, string> = {}) =>
    after.value(name, labels) - before.value(name, labels);

describe("/metrics of a running service", () => {
  it("counts a known mix of saves, conflicts, duplicates, reads and refusals exactly", async () => {
    const port = metricsPort(f.services[0]!);
    const before = await Scrape.of(port);
    const actorId = `order-${randomUUID()}`;
    const erased = `person-${randomUUID()}`;
    const first = event(actorId, 3);
    const codes: number[] = [];
    const send = async (subject: string, body: unknown) => codes.push((await request(f.nc, subject, body)).code);

    await send("eventstore.save", event(actorId, 1));
    await send("eventstore.save", event(actorId, 2));
    await send("eventstore.save", first);
    await send("eventstore.save", first); // the same event again: a duplicate
    await send("eventstore.save", event(actorId, 3)); // another event at a taken version: a conflict
    await send("eventstore.save", event(actorId, 2)); // behind the actor: a conflict
    await send("eventstore.events", { actorId });
    await send("eventstore.events", { actorId, fromVersion: 1 });
    await send("eventstore.version", { actorId });
    await send("eventstore.snapshot.get", { actorId }); // none: 404
    await send("eventstore.save", { actorId }); // fails the schema
    await send("eventstore.events", { actorId: 7 });
    const notJson = await f.nc.request("eventstore.version", "{not json", { timeout: 5000 });
    codes.push(Number(notJson.headers?.get("Nats-Service-Error-Code")));
    await send("eventstore.save", event(erased, 1));
    await send("eventstore.erase", { actorId: erased });
    expect(codes).toEqual([0, 0, 0, 0, 409, 409, 0, 0, 0, 404, 400, 400, 400, 0, 0]);

    const after = await Scrape.of(port);
    const d = grew(before, after);
    const requests = (endpoint: string, code: string) => d("eventstore_requests_total", { endpoint, code });
    expect({
      save200: requests("save", "200"),
      save409: requests("save", "409"),
      save400: requests("save", "400"),
      events200: requests("events", "200"),
      events400: requests("events", "400"),
      version200: requests("version", "200"),
      version400: requests("version", "400"),
      snapshotGet404: requests("snapshot_get", "404"),
      erase200: requests("erase", "200"),
      saveDurations: d("eventstore_request_duration_seconds", { endpoint: "save" }),
      eventsDurations: d("eventstore_request_duration_seconds", { endpoint: "events" }),
      conflicts: d("eventstore_conflicts_total", { endpoint: "save" }),
      duplicates: d("eventstore_duplicates_total", { endpoint: "save" }),
      erasures: d("eventstore_erasures_total"),
      retries: d("eventstore_write_retries_total", { endpoint: "save" }),
      // Four events stored (the erased actor's included) and one tombstone; the erase deletes its one event (no snapshots).
      publishes: d("eventstore_jetstream_request_duration_seconds", { operation: "publish" }),
      msgDeletes: d("eventstore_jetstream_request_duration_seconds", { operation: "msg_delete" }),
      // Each of the seven saves looks the actor's head up in the version cache once.
      cacheLookups: d("eventstore_cache_hits_total", { cache: "version" }) + d("eventstore_cache_misses_total", { cache: "version" }),
    }).toEqual({
      save200: 5,
      save409: 2,
      save400: 1,
      events200: 2,
      events400: 1,
      version200: 1,
      version400: 1,
      snapshotGet404: 1,
      erase200: 1,
      saveDurations: 8,
      eventsDurations: 3,
      conflicts: 2,
      duplicates: 1,
      erasures: 1,
      retries: 0,
      publishes: 5,
      msgDeletes: 1,
      cacheLookups: 7,
    });
    expect(after.value("eventstore_cache_entries", { cache: "version" })).toBeGreaterThanOrEqual(2);
    expect(after.value("eventstore_cache_capacity", { cache: "index" })).toBe(1_000_000);
    expect(after.value("eventstore_nats_connected", { connection: "serve" })).toBe(1);
    expect(after.value("eventstore_nats_reconnects_total", { connection: "serve" })).toBe(0);
    // The default process metrics of prom-client.
    for (const name of ["process_cpu_user_seconds_total", "process_resident_memory_bytes", "nodejs_eventloop_lag_seconds"]) {
      expect(after.families.has(name), name).toBe(true);
    }
    // No label carries an actor id.
    expect(after.text).not.toContain(actorId);
    expect(promtoolProblems(after.text)).toEqual([]);
  });

  it("reports each projection's lag from its consumer proj-<name>, and no other consumer", async () => {
    const port = metricsPort(f.services[0]!);
    const jsm = await jetstreamManager(f.nc);
    const name = `lag-${randomUUID().slice(0, 8)}`;
    await jsm.consumers.add("EVENTS", { durable_name: `proj-${name}`, ack_policy: AckPolicy.Explicit, filter_subject: "EVENTS.events.>" });
    await jsm.consumers.add("EVENTS", { durable_name: `other-${name}`, ack_policy: AckPolicy.Explicit });
    const actorId = `order-${randomUUID()}`;
    for (let v = 1; v <= 3; v++) expect((await request(f.nc, "eventstore.save", event(actorId, v))).code).toBe(0);
    const stored = (await jsm.streams.info("EVENTS")).state.messages;
    // The service reads the consumers at most every few seconds: wait for a reading after the saves.
    const scrape = await vi.waitFor(
      async () => {
        const s = await Scrape.of(port);
        expect(s.value("eventstore_projection_lag", { projection: name })).toBe(stored);
        return s;
      },
      { timeout: 15_000, interval: 500 },
    );
    expect(scrape.has("eventstore_projection_lag", { projection: `other-${name}` })).toBe(false);
    expect(scrape.text).not.toContain(`other-${name}`);
  });

  it("takes as label values only names a projection may have, and at most 100 of them", async () => {
    const port = metricsPort(f.services[0]!);
    const jsm = await jetstreamManager(f.nc);
    const tag = randomUUID().slice(0, 8);
    // Names the projector role may give a consumer but no projection has: too long, or not [A-Za-z0-9_-].
    const odd = [`proj-${"x".repeat(65)}${tag}`, `proj-ü${tag}`, `proj-a%b${tag}`, `proj-{a=b}${tag}`];
    for (const name of odd) await jsm.consumers.add("EVENTS", { durable_name: name, ack_policy: AckPolicy.Explicit });
    for (let i = 0; i < 105; i++) {
      await jsm.consumers.add("EVENTS", { durable_name: `proj-many-${i}-${tag}`, ack_policy: AckPolicy.Explicit });
    }
    const scrape = await vi.waitFor(
      async () => {
        const s = await Scrape.of(port);
        expect(s.text).toContain(`many-0-${tag}`);
        return s;
      },
      { timeout: 15_000, interval: 500 },
    );
    const labels = scrape.text.split("\n").filter((l) => l.startsWith("eventstore_projection_lag{"));
    expect(labels.length).toBe(100);
    expect(scrape.text).not.toContain("xxxxx");
    for (const name of odd.slice(1)) expect(scrape.text).not.toContain(name.slice("proj-".length));
    for (const name of [...odd, ...Array.from({ length: 105 }, (_, i) => `proj-many-${i}-${tag}`)])
      await jsm.consumers.delete("EVENTS", name);
  });

  it("answers /healthz and /readyz, and 404 elsewhere", async () => {
    const port = metricsPort(f.services[0]!);
    expect(await get(port, "/healthz")).toEqual({ status: 200, text: "ok\n" });
    expect(await get(port, "/readyz")).toEqual({ status: 200, text: "ready\n" });
    expect((await get(port, "/")).status).toBe(404);
  });
});
