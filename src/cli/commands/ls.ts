import { type ServiceStats, Svcm } from "@nats-io/services";
import { errors as natsErrors } from "@nats-io/transport-node";
import { SERVICE_NAME } from "../../contract/endpoints.js";
import { UnavailableError } from "../../contract/errors.js";
import { positionals } from "../args.js";
import type { Command } from "../context.js";

// Replicas answer $SRV.STATS within a few milliseconds; the collection ends this long after the last.
const STALL_MS = 300;

/** The running replicas, as `nats micro ls` would list them, from their $SRV STATS. */
export const ls: Command = (args) => {
  positionals(args, []);
  return async ({ nc, out, timeoutMs }) => {
    const replies: ServiceStats[] = [];
    try {
      const stats = await new Svcm(nc).client({ strategy: "stall", maxWait: timeoutMs, stall: STALL_MS }).stats(SERVICE_NAME);
      for await (const s of stats) replies.push(s);
    } catch (err) {
      if (!(err instanceof natsErrors.NoRespondersError || (err instanceof natsErrors.RequestError && err.isNoResponders()))) {
        throw err;
      }
    }
    if (replies.length === 0) throw new UnavailableError(`no ${SERVICE_NAME} service answered $SRV.STATS.${SERVICE_NAME}`);
    replies.sort((a, b) => a.id.localeCompare(b.id));
    await out.table(replies.map(row));
  };
};

function row(s: ServiceStats): Record<string, string | number> {
  const endpoints = s.endpoints ?? [];
  const requests = endpoints.reduce((n, e) => n + e.num_requests, 0);
  const errors = endpoints.reduce((n, e) => n + e.num_errors, 0);
  const processingNs = endpoints.reduce((n, e) => n + e.processing_time, 0);
  const averageMs = requests > 0 ? processingNs / requests / 1e6 : 0;
  return { id: s.id, version: s.version, requests, errors, average_latency_ms: Number(averageMs.toFixed(3)), started: s.started };
}
