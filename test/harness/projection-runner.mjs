// One process running one projection, for the failover tests: it appends a line to the file
// RECORD for each event it handles and for each change of state. The writes are synchronous and
// happen before the handler resolves, so a SIGKILL loses no record of an event it acknowledged
// (a pipe would: what the reader has not taken yet waits in the process). Plain JavaScript over
// the build, so that a test can start many.
//   {"t":"active","pin":"...","at":ms} {"t":"standby","at":ms} {"t":"h","s":seq} {"t":"failed",...}
import { openSync, writeSync } from "node:fs";
import { connect } from "@nats-io/transport-node";
import { EventStoreClient } from "../../dist/src/index.js";

const env = process.env;
const record = openSync(env.RECORD, "a");
const say = (line) => writeSync(record, `${JSON.stringify(line)}\n`);

const nc = await connect({ servers: env.NATS_URL.split(","), maxReconnectAttempts: -1, reconnectTimeWait: 250, noAsyncTraces: true });
const store = new EventStoreClient(nc, { stream: env.EVENTSTORE_STREAM ?? "EVENTS" });
const projection = await store.project(env.PROJECTION, ({ sequence }) => say({ t: "h", s: sequence }), {
  mode: env.MODE ?? "ordered",
  pinTtlMs: Number(env.PIN_TTL_MS ?? 30_000),
  batch: Number(env.BATCH ?? 256),
});
projection.on("active", ({ pinId }) => say({ t: "active", pin: pinId, at: Date.now() }));
projection.on("standby", () => say({ t: "standby", at: Date.now() }));
projection.on("failed", ({ sequence, error }) => say({ t: "failed", s: sequence, error: error.message }));
say({ t: "started", at: Date.now() });
process.once("SIGTERM", async () => {
  await projection.stop();
  say({ t: "stopped", at: Date.now() });
  await nc.close();
});
