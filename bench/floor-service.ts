// The floor of any save service written on nats.js (issue 27), run as a process of its own:
//   node dist/bench/floor-service.js <nats url> <stream> <subject>
// A micro-service endpoint on <subject> that parses each save request and publishes its bytes
// with the headers the service sends (the version, a message id, the actor's last sequence as
// the expectation), then replies with JetStream's ack. It validates nothing, decides nothing and
// answers no retry: the least work a service can do between the caller and JetStream, so that the
// benchmark measures what the extra hop alone costs, in the same run.
import { Svcm } from "@nats-io/services";
import { connect, headers } from "@nats-io/transport-node";
import { Headers } from "../src/contract/subjects.js";

const [url, stream, subject] = process.argv.slice(2);
const nc = await connect({ servers: url, noAsyncTraces: true, name: "floor" });
const decoder = new TextDecoder();
const lastSeq = new Map<string, number>();
const service = await new Svcm(nc).add({ name: "floor", version: "0.0.1", queue: "floor" });
service.addEndpoint("save", {
  subject,
  handler: (_err, msg) => {
    const event = JSON.parse(decoder.decode(msg.data)) as { actorId: string; version: number; id: string };
    const h = headers();
    h.set(Headers.version, String(event.version));
    h.set("Nats-Msg-Id", event.id);
    h.set("Nats-Expected-Last-Subject-Sequence", String(lastSeq.get(event.actorId) ?? 0));
    nc.request(`${stream}.events.bench.${event.actorId}`, msg.data, { headers: h, timeout: 30_000 }).then(
      (ack) => {
        const { seq, error } = JSON.parse(decoder.decode(ack.data)) as { seq?: number; error?: { description: string } };
        if (error || !seq) return msg.respondError(500, error?.description ?? "no sequence in the ack");
        lastSeq.set(event.actorId, seq);
        msg.respond(ack.data);
      },
      (err: Error) => msg.respondError(500, err.message),
    );
  },
});
await nc.flush();
process.stdout.write("ready\n");
