import { randomUUID } from "node:crypto";
import { jetstreamManager } from "@nats-io/jetstream";
import { Svcm } from "@nats-io/services";
import { connect, type Msg, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Subjects } from "../../src/contract/subjects.js";
import type { AppendResponse, Event } from "../../src/contract/types.js";
import { event as ev, events } from "../harness/events.js";
import { type NatsServer, startNatsServer } from "../harness/nats-server.js";
import { type Reply, readAll, request } from "../harness/requests.js";
import { type ServiceProcess, startServiceProcess } from "../harness/service-process.js";

const batch = events;
const append = (nc: NatsConnection, actorId: string, events: Event[]) => request(nc, "eventstore.append", { actorId, events });

describe("append through two service processes", () => {
  let server: NatsServer;
  let services: ServiceProcess[] = [];
  let nc: NatsConnection;

  beforeAll(async () => {
    server = await startNatsServer();
    services = [await startServiceProcess(server.url), await startServiceProcess(server.url)];
    nc = await connect({ servers: server.url });
  });

  afterAll(async () => {
    await nc?.close();
    for (const s of services) await s.stop();
    await server?.stop();
  });

  it("stores a batch and reads it back in order, as ordinary events", async () => {
    const actorId = `order-${randomUUID()}`;
    const events = batch(actorId, 1, 10);
    const r = await append(nc, actorId, events);
    expect(r.code).toBe(0);
    const body = r.body as unknown as AppendResponse;
    expect(body).toMatchObject({ actorId, fromVersion: 1, toVersion: 10, duplicate: false });
    expect(body.sequences.map((s) => s - body.sequences[0]!)).toEqual(events.map((_, i) => i));
    const read = await readAll<Event>(nc, actorId);
    expect(read.map((e) => e.id)).toEqual(events.map((e) => e.id));
    expect(read.map((e) => e.version)).toEqual(events.map((e) => e.version));
  });

  it("refuses more than 1000 events with a 400 before anything is sent", async () => {
    const actorId = `order-${randomUUID()}`;
    const r = await append(nc, actorId, batch(actorId, 1, 1001));
    expect(r.code).toBe(400);
    expect((r.body.error as { message: string }).message).toContain("/events");
    expect((await request(nc, "eventstore.version", { actorId })).body.version).toBe(0);
  });

  it("lets exactly one of racing appends win on each version, the others get 409 with the true version", async () => {
    const actorId = `order-${randomUUID()}`;
    let version = 0;
    for (let round = 0; round < 10; round++) {
      const attempts = await Promise.all(Array.from({ length: 4 }, () => append(nc, actorId, batch(actorId, version + 1, 5))));
      expect(attempts.filter((a) => a.code === 0)).toHaveLength(1);
      for (const lost of attempts.filter((a) => a.code !== 0)) {
        expect(lost.body).toMatchObject({
          error: { code: 409, actorId, attemptedVersion: version + 1, currentVersion: version + 5 },
        });
      }
      version += 5;
    }
    expect((await readAll<Event>(nc, actorId)).map((e) => e.version)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));

    const stats = await new Svcm(nc).client().stats("eventstore");
    const perReplica: number[] = [];
    for await (const s of stats) perReplica.push(s.endpoints!.find((e) => e.name === "append")!.num_requests);
    expect(perReplica).toHaveLength(2);
    for (const n of perReplica) expect(n).toBeGreaterThan(0);
  });

  it("keeps each append whole when saves and appends race on one actor, also while a batch is in flight", async () => {
    const actorId = `order-${randomUUID()}`;
    // Every message passes the actor's subject, so the test sees how far a save or a batch has come.
    let seen: { passes: (msg: Msg) => boolean; resolve: () => void } | undefined;
    const sub = nc.subscribe(new Subjects("EVENTS").events(actorId), {
      callback: (_err, msg) => {
        if (seen?.passes(msg)) seen.resolve();
      },
    });
    const has = (header: string) => (msg: Msg) => msg.headers?.has(header) === true;
    // The appends start once a save has reached the stream (so a save wins the round), together with the
    // saves, or the saves start once a batch has begun (a save may land inside it) or once one commits.
    const modes = ["save first", "together", "Nats-Batch-Sequence", "Nats-Batch-Commit"] as const;
    const won: { kind: "save" | "append"; sequences: number[]; ids: string[] }[] = [];
    let version = 0;
    for (let round = 0; round < 12; round++) {
      const saves = [ev(actorId, version + 1), ev(actorId, version + 1)];
      const appends = [batch(actorId, version + 1, 3), batch(actorId, version + 1, 3)];
      const mode = modes[round % modes.length]!;
      const reached = new Promise<void>((resolve) => {
        if (mode === "save first") seen = { passes: (msg) => !has("Nats-Batch-Id")(msg), resolve };
        else if (mode !== "together") seen = { passes: has(mode), resolve };
      });
      const saveAll = () => saves.map(async (e) => [await request(nc, "eventstore.save", e), "save", [e]] as [Reply, "save", Event[]]);
      const appendAll = () => appends.map(async (b) => [await append(nc, actorId, b), "append", b] as [Reply, "append", Event[]]);
      let saving: Promise<[Reply, "save", Event[]]>[];
      let appending: Promise<[Reply, "append", Event[]]>[];
      if (mode === "save first") {
        saving = saveAll();
        await Promise.race([reached, Promise.all(saving)]);
        seen = undefined;
        appending = appendAll();
      } else {
        appending = appendAll();
        if (mode !== "together") await Promise.race([reached, Promise.all(appending)]);
        seen = undefined;
        saving = saveAll();
      }
      const replies: [Reply, "save" | "append", Event[]][] = await Promise.all([...appending, ...saving]);
      const winners = replies.filter(([r]) => r.code === 0);
      expect(winners).toHaveLength(1);
      const [reply, kind, events] = winners[0]!;
      const top = version + events.length;
      for (const [lost] of replies.filter(([r]) => r.code !== 0)) {
        expect(lost.body).toMatchObject({ error: { code: 409, attemptedVersion: version + 1, currentVersion: top } });
      }
      const sequences = kind === "save" ? [reply.body.sequence as number] : (reply.body.sequences as number[]);
      won.push({ kind, sequences, ids: events.map((e) => e.id) });
      version = top;
    }
    sub.unsubscribe();
    expect(won.some((w) => w.kind === "save")).toBe(true);
    expect(won.some((w) => w.kind === "append")).toBe(true);
    const read = await readAll<Event>(nc, actorId);
    expect(read.map((e) => e.version)).toEqual(Array.from({ length: version }, (_, i) => i + 1));
    expect(read.map((e) => e.id)).toEqual(won.flatMap((w) => w.ids));
    const jsm = await jetstreamManager(nc);
    for (const w of won.filter((x) => x.kind === "append")) {
      for (const [i, seq] of w.sequences.entries()) {
        expect((await jsm.streams.getMessage("EVENTS", { seq }))!.json<Event>().id).toBe(w.ids[i]);
      }
    }
  });

  it("answers every retry, whichever replica takes it, as a duplicate with the original sequences", async () => {
    const actorId = `order-${randomUUID()}`;
    const events = batch(actorId, 1, 4);
    const original = await append(nc, actorId, events);
    expect(original.code).toBe(0);
    await request(nc, "eventstore.save", ev(actorId, 5));
    for (let i = 0; i < 6; i++) {
      const retry = await append(nc, actorId, events);
      expect(retry).toMatchObject({ code: 0, body: { ...original.body, duplicate: true } });
    }
    const changed = [...events.slice(0, 3), ev(actorId, 4)];
    const conflict = await append(nc, actorId, changed);
    expect(conflict.body).toMatchObject({ error: { code: 409, attemptedVersion: 1, currentVersion: 5 } });
  });
});

describe("append retried through a service process that never saw the original", () => {
  let server: NatsServer;
  let nc: NatsConnection;
  const started: ServiceProcess[] = [];

  beforeAll(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
  });

  afterAll(async () => {
    await nc?.close();
    for (const s of started) await s.stop();
    await server?.stop();
  });

  it("answers duplicate: true with the original sequences from a cold cache", async () => {
    const actorId = `order-${randomUUID()}`;
    const events = batch(actorId, 1, 3);
    const first = await startServiceProcess(server.url);
    started.push(first);
    const original = await append(nc, actorId, events);
    expect(original.code).toBe(0);
    await first.stop();
    const second = await startServiceProcess(server.url);
    started.push(second);
    const retry = await append(nc, actorId, events);
    expect(retry).toMatchObject({ code: 0, body: { ...original.body, duplicate: true } });
  });
});
