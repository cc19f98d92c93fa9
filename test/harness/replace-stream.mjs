// Deletes a stream, creates it again with the configuration given, and publishes messages into it,
// as an operator would: read as JSON from stdin, {url, config, messages: [{subject, headers, data}]}.
// Run synchronously by stalled.ts, so that the test process does not run meanwhile.
import { readFileSync } from "node:fs";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, headers } from "@nats-io/transport-node";

const { url, config, messages } = JSON.parse(readFileSync(0, "utf8"));
const nc = await connect({ servers: url });
const jsm = await jetstreamManager(nc);
await jsm.streams.delete(config.name).catch(() => undefined);
await jsm.streams.add(config);
const js = jetstream(nc);
for (const m of messages) {
  const h = headers();
  for (const [k, v] of Object.entries(m.headers)) h.set(k, v);
  await js.publish(m.subject, m.data, { headers: h });
}
await nc.close();
