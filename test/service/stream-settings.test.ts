import { randomUUID } from "node:crypto";
import { DiscardPolicy, jetstreamManager, type StreamConfig } from "@nats-io/jetstream";
import { describe, expect, it } from "vitest";
import { useNatsServer } from "../harness/fixture.js";
import { request } from "../harness/requests.js";
import { runServiceToExit, startServiceProcess } from "../harness/service-process.js";

// An operator may have made the streams before the service first ran. A setting that would break
// a promise of the contract stops the start and names itself; it is never found by a caller's 500.

const f = useNatsServer();
let streams = 0;

/** A new stream name, its events stream made by the operator with the given settings. */
async function operatorStream(settings: Partial<StreamConfig>, snapshots?: Partial<StreamConfig>): Promise<string> {
  const name = `OPS${++streams}`;
  const jsm = await jetstreamManager(f.nc);
  await jsm.streams.add({ name, subjects: [`${name}.events.>`], ...settings });
  if (snapshots) await jsm.streams.add({ name: `${name}_SNAPSHOTS`, subjects: [`${name}.snapshots.>`], ...snapshots });
  return name;
}

describe("an existing stream with a setting the contract cannot live with stops the start", () => {
  it.each<[string, Partial<StreamConfig>, string]>([
    ["no_ack", { no_ack: true }, "no_ack is set"],
    ["a max_msg_size below what the service accepts", { max_msg_size: 2048 }, "max_msg_size is 2048"],
    ["deny_delete", { deny_delete: true }, "deny_delete is set"],
    ["discard new", { discard: DiscardPolicy.New }, "discard is new"],
  ])("%s", async (_label, settings, says) => {
    const stream = await operatorStream(settings);
    const { code, output } = await runServiceToExit({ NATS_URL: f.server.url, EVENTSTORE_STREAM: stream });
    expect(code, output).toBe(1);
    expect(output).toContain(says);
    expect(output).toContain("eventstore could not start");
  });

  it("a sealed stream", async () => {
    const stream = await operatorStream({});
    const jsm = await jetstreamManager(f.nc);
    // The client's update type leaves sealed out; the server takes it (a seal cannot be undone).
    const sealed = { ...(await jsm.streams.info(stream)).config, sealed: true };
    await jsm.streams.update(stream, sealed);
    const { code, output } = await runServiceToExit({ NATS_URL: f.server.url, EVENTSTORE_STREAM: stream });
    expect(code, output).toBe(1);
    expect(output).toContain("the stream is sealed");
  });

  it("on the snapshots stream too: a stream-wide limit would evict other actors' newest snapshot", async () => {
    const stream = await operatorStream({}, { max_msgs: 1000, max_msgs_per_subject: 3 });
    const { code, output } = await runServiceToExit({ NATS_URL: f.server.url, EVENTSTORE_STREAM: stream });
    expect(code, output).toBe(1);
    expect(output).toContain(`stream ${stream}_SNAPSHOTS exists`);
    expect(output).toContain("max_msgs is 1000");
  });

  it("a max_msg_size that takes every request the service accepts is fine", async () => {
    const stream = await operatorStream({ max_msg_size: 2 * 1024 * 1024 });
    const service = await startServiceProcess(f.server.url, { EVENTSTORE_STREAM: stream });
    expect(await service.stop()).toBe(0);
  });
});

describe("a JetStream refusal a valid request can meet is answered with its contract code", () => {
  it("a message over a max_msg_size lowered under the running service is 400, not 500", async () => {
    const stream = `OPS${++streams}`;
    const service = await startServiceProcess(f.server.url, { EVENTSTORE_STREAM: stream });
    try {
      const jsm = await jetstreamManager(f.nc);
      const info = await jsm.streams.info(stream);
      await jsm.streams.update(stream, { ...info.config, max_msg_size: 2048 });
      const actorId = `order-${randomUUID()}`;
      const big = { id: randomUUID(), eventType: "T", actorId, version: 1, data: { blob: "x".repeat(5000) } };
      const r = await request(f.nc, "eventstore.save", big);
      expect(r.code, JSON.stringify(r.body)).toBe(400);
      expect((r.body.error as { message: string }).message).toContain("too large");
      expect((await request(f.nc, "eventstore.save", { ...big, data: {} })).code).toBe(0);
    } finally {
      await service.stop();
    }
  });
});
