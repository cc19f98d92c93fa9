// The floor of any save service written on nats.js (issue 27), run as a process of its own:
//   node dist/bench/floor-service.js <nats url> <stream> <subject>
// A micro-service endpoint on <subject> that parses each save request and publishes its bytes
// with the headers the service sends (the version, a message id, the actor's last sequence as
// the expectation), then replies with JetStream's ack. It validates nothing, decides nothing and
// answers no retry: the least work a service can do between the caller and JetStream, so that the
// benchmark measures what the extra hop alone costs, in the same run. Its publishes wait for their
// acks the lean way the service's Requester does (one wildcard reply subscription, no timer or
// error object per request), so that it costs no more than the service's own request path.
import { Svcm } from "@nats-io/services";
import { connect, headers, type Msg, type MsgHdrs, nuid } from "@nats-io/transport-node";
import { Headers } from "../src/contract/subjects.js";

const [url, stream, subject] = process.argv.slice(2);
const nc = await connect({ servers: url, noAsyncTraces: true, name: "floor" });
const decoder = new TextDecoder();
const lastSeq = new Map<string, number>();
const inbox = `_INBOX.floor.${nuid.next()}.`;
const waiting = new Map<number, (ack: Msg) => void>();
let next = 0;
nc.subscribe(`${inbox}*`, { callback: (_err, ack) => waiting.get(Number(ack.subject.slice(inbox.length)))?.(ack) });
const request = (subject: string, data: Uint8Array, h: MsgHdrs) =>
  new Promise<Msg>((resolve) => {
    const id = ++next;
    waiting.set(id, (ack) => {
      waiting.delete(id);
      resolve(ack);
    });
    nc.publish(subject, data, { reply: inbox + id, headers: h });
  });
const service = await new Svcm(nc).add({ name: "floor", version: "0.0.1", queue: "floor" });
service.addEndpoint("save", {
  subject,
  handler: (_err, msg) => {
    const event = JSON.parse(decoder.decode(msg.data)) as { actorId: string; version: number; id: string };
    const h = headers();
    h.set(Headers.version, String(event.version));
    h.set("Nats-Msg-Id", event.id);
    h.set("Nats-Expected-Last-Subject-Sequence", String(lastSeq.get(event.actorId) ?? 0));
    void request(`${stream}.events.bench.${event.actorId}`, msg.data, h).then((ack) => {
      const { seq, error } = JSON.parse(decoder.decode(ack.data)) as { seq?: number; error?: { description: string } };
      if (error || !seq) return msg.respondError(500, error?.description ?? "no sequence in the ack");
      lastSeq.set(event.actorId, seq);
      msg.respond(ack.data);
    });
  },
});
await nc.flush();
process.stdout.write("ready\n");
// A clean exit on SIGTERM, so that `node --cpu-prof` writes its profile.
process.once("SIGTERM", () => void nc.close().then(() => process.exit(0)));
