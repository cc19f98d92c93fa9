import type { ServiceInfo } from "@nats-io/services";
import { Empty, type NatsConnection, errors as natsErrors } from "@nats-io/transport-node";
import { SERVICE_NAME } from "../client/discovery.js";
import type { Logger } from "../logger.js";

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
  timeoutMs: number,
  log: Logger,
): Promise<void> {
  const others: ServiceInfo[] = [];
  try {
    const replies = await nc.requestMany(`$SRV.INFO.${SERVICE_NAME}`, Empty, { strategy: "stall", maxWait: timeoutMs, stall: STALL_MS });
    for await (const msg of replies) {
      // No replica serving: the server answers with a no-responders status.
      if (msg.headers?.hasError) break;
      others.push(msg.json<ServiceInfo>());
    }
  } catch (err) {
    if (!(err instanceof natsErrors.NoRespondersError || (err instanceof natsErrors.RequestError && err.isNoResponders()))) throw err;
  }
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
