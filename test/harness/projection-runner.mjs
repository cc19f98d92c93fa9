// One process running one projection, for the failover tests: it appends a line to the file
// RECORD for each event it handles and for each change of state. The writes are synchronous and
// happen before the handler resolves, so a SIGKILL loses no record of an event it acknowledged
// (a pipe would: what the reader has not taken yet waits in the process). Plain JavaScript over
// the build, so that a test can start many.
//   {"t":"active","pin":"...","at":ms} {"t":"standby","at":ms} {"t":"h","s":seq} {"t":"failed",...}
// READ_MODEL=order-totals runs the README's read model (examples/order-totals.ts) instead, and
// records no "h" lines; with PAUSE_BEFORE_WRITE=n the process stops itself (SIGSTOP) just before
// its n-th write of a row, after it read the row ({"t":"paused"}). HANDLER_MS makes each handler
// take that long (an awaited timer).
import { openSync, writeSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { connect } from "@nats-io/transport-node";
import { EventStoreClient } from "../../dist/src/index.js";

const env = process.env;
const record = openSync(env.RECORD, "a");
const say = (line) => writeSync(record, `${JSON.stringify(line)}\n`);
const handlerMs = Number(env.HANDLER_MS ?? 0);

const nc = await connect({ servers: env.NATS_URL.split(","), maxReconnectAttempts: -1, reconnectTimeWait: 250, noAsyncTraces: true });
const options = {
  mode: env.MODE ?? "ordered",
  ...(env.PIN_TTL_MS ? { pinTtlMs: Number(env.PIN_TTL_MS) } : {}),
  ...(env.BATCH ? { batch: Number(env.BATCH) } : {}),
};
if (env.PAUSE_BEFORE_WRITE) {
  const at = Number(env.PAUSE_BEFORE_WRITE);
  let writes = 0;
  const pausing = (send) =>
    function (subject, ...rest) {
      if (subject.startsWith("$KV.order_totals.") && !subject.endsWith("._checkpoint") && ++writes === at) {
        say({ t: "paused", at: Date.now() });
        process.kill(process.pid, "SIGSTOP");
      }
      return send.call(this, subject, ...rest);
    };
  nc.publish = pausing(nc.publish);
  nc.request = pausing(nc.request);
}
let projection;
if (env.READ_MODEL === "order-totals") {
  const { startOrderTotals } = await import("../../dist/examples/order-totals.js");
  ({ projection } = await startOrderTotals(nc, { stream: env.EVENTSTORE_STREAM ?? "EVENTS", project: options }));
} else {
  const store = new EventStoreClient(nc, { stream: env.EVENTSTORE_STREAM ?? "EVENTS" });
  projection = await store.project(
    env.PROJECTION,
    async ({ sequence }) => {
      // "b": a handler began; "h": it is done (the event is acknowledged next).
      if (handlerMs > 0) {
        say({ t: "b", s: sequence, at: Date.now() });
        await sleep(handlerMs);
      }
      say(handlerMs > 0 ? { t: "h", s: sequence, at: Date.now() } : { t: "h", s: sequence });
    },
    options,
  );
}
projection.on("active", ({ pinId, epoch }) => say({ t: "active", pin: pinId, epoch, at: Date.now() }));
projection.on("standby", () => say({ t: "standby", at: Date.now() }));
projection.on("failed", ({ sequence, error }) => say({ t: "failed", s: sequence, error: error.message }));
say({ t: "started", at: Date.now() });
process.once("SIGTERM", async () => {
  await projection.stop();
  say({ t: "stopped", at: Date.now() });
  await nc.close();
});
