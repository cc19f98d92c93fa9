import type { ServiceInfo } from "@nats-io/services";
import { Empty, type NatsConnection } from "@nats-io/transport-node";
import { SERVICE_NAME } from "../../contract/endpoints.js";
import type { Logger } from "../logger.js";
import { replicasInbox } from "../nats/inbox.js";

/**
 * The service metadata every replica must share: replicas share the endpoint subjects, so one
 * that differs in any of these answers the same request differently (another stream, another
 * queue group that gets every request too, another snapshot bound or request limit).
 */
export const AGREED_SETTINGS = [
  "stream",
  "snapshots_stream",
  "queue",
  "backend",
  "replicas",
  "snapshots_keep",
  "max_request_bytes",
  "max_depth",
  "max_read_events",
] as const;

export class ReplicaMismatchError extends Error {
  override readonly name = "ReplicaMismatchError";
}

/** How long the replicas already serving have to answer $SRV.INFO, after the first answer. */
const STALL_MS = 500;

/**
 * Asks every eventstore replica already serving for its $SRV.INFO and refuses to join when one
 * disagrees on a setting of AGREED_SETTINGS. A replica that does not publish a setting (an older
 * version) is not compared on it. Runs before this replica touches the streams or subscribes.
 */
export async function ensureReplicasAgree(
  nc: NatsConnection,
  mine: Readonly<Record<string, string>>,
  inboxPrefix: string,
  timeoutMs: number,
  log: Logger,
): Promise<void> {
  const others = await replicasServing(nc, inboxPrefix, timeoutMs);
  const disagreements: string[] = [];
  for (const other of others) {
    const theirs: Record<string, string> = other.metadata ?? {};
    const differs = AGREED_SETTINGS.filter((key) => theirs[key] !== undefined && theirs[key] !== mine[key]).map(
      (key) => `${key} is ${theirs[key]} there, ${mine[key]} here`,
    );
    if (differs.length > 0) disagreements.push(`replica ${other.id} (version ${other.version}): ${differs.join(", ")}`);
  }
  if (disagreements.length > 0) {
    throw new ReplicaMismatchError(
      `eventstore replicas already serving disagree with this one, and would answer the same request differently: ` +
        `${disagreements.join("; ")}. Start every replica with the same settings, or stop the others first.`,
    );
  }
  log.info({ replicas: others.length }, "replicas already serving agree");
}

/**
 * The $SRV.INFO of every replica serving: the answers that arrive until none came for STALL_MS
 * after the last one, or timeoutMs in all. They come to an inbox of their own, apart from the
 * JetStream inboxes, which the identity that answers them may not publish to (src/nats/inbox.ts).
 */
async function replicasServing(nc: NatsConnection, inboxPrefix: string, timeoutMs: number): Promise<ServiceInfo[]> {
  const inbox = replicasInbox(inboxPrefix);
  const sub = nc.subscribe(inbox);
  const end = () => sub.unsubscribe();
  const deadline = setTimeout(end, timeoutMs);
  let stall: NodeJS.Timeout | undefined;
  const others: ServiceInfo[] = [];
  try {
    nc.publish(`$SRV.INFO.${SERVICE_NAME}`, Empty, { reply: inbox });
    for await (const msg of sub) {
      // No replica serving: the server answers with a no-responders status.
      if (msg.headers?.hasError) break;
      others.push(msg.json<ServiceInfo>());
      clearTimeout(stall);
      stall = setTimeout(end, STALL_MS);
    }
  } finally {
    clearTimeout(deadline);
    clearTimeout(stall);
    end();
  }
  return others;
}
