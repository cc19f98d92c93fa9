import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { Headers } from "../../src/contract/subjects.js";
import type { Ack } from "./writer-load.js";

/** One event message as a replica holds it. */
export interface StoredEventMsg {
  seq: number;
  actorId: string;
  version: number;
  id: string;
}

const BATCH = 1000;

/**
 * Every event message of the stream, in stream order, read with batch direct gets through this
 * connection, so that a replica near the connection's server answers. A replica that has not
 * applied everything yet ends its batch early: the read asks again until it has seen untilSeq
 * (the stream's last sequence as its leader has it), for up to waitMs.
 */
export async function readStoredEvents(nc: NatsConnection, stream: string, untilSeq = 0, waitMs = 30_000): Promise<StoredEventMsg[]> {
  const deadline = Date.now() + waitMs;
  const out: StoredEventMsg[] = [];
  let seq = 1;
  for (;;) {
    const request = JSON.stringify({ seq, next_by_subj: `${stream}.events.>`, batch: BATCH });
    const replies = await nc.requestMany(`$JS.API.DIRECT.GET.${stream}`, request, { strategy: "sentinel", maxWait: 5000 });
    let pending = 0;
    for await (const msg of replies) {
      if ((msg.headers?.code ?? 0) !== 0 || msg.data.length === 0) break;
      const h = msg.headers!;
      const body = JSON.parse(new TextDecoder().decode(msg.data)) as { actorId: string; id: string };
      out.push({
        seq: Number(h.get("Nats-Sequence")),
        actorId: body.actorId,
        version: Number(h.get(Headers.version)),
        id: body.id,
      });
      pending = Number(h.get("Nats-Num-Pending") || "0");
    }
    seq = (out.at(-1)?.seq ?? 0) + 1;
    if (pending > 0) continue;
    if (seq > untilSeq) return out;
    if (Date.now() > deadline) throw new Error(`the replica answering through ${nc.getServer()} did not reach sequence ${untilSeq}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The stream's last sequence as its leader has it. */
export async function lastSequence(nc: NatsConnection, stream: string): Promise<number> {
  const jsm = await jetstreamManager(nc, { timeout: 5000 });
  return (await jsm.streams.info(stream)).state.last_seq;
}

export interface Audit {
  acknowledged: number;
  stored: number;
  /** Acknowledged ids that are not stored (or not at their acknowledged version and sequence). */
  lost: string[];
  /** Ids stored more than once. */
  duplicated: string[];
  /** Ids stored that no reply acknowledged. */
  unacknowledged: string[];
  /** Actors whose versions do not strictly increase in stream order. */
  outOfOrder: string[];
}

/** Compares what the service acknowledged with what a replica holds. */
export function audit(acks: readonly Ack[], stored: readonly StoredEventMsg[]): Audit {
  const byId = new Map<string, StoredEventMsg[]>();
  for (const s of stored) byId.set(s.id, [...(byId.get(s.id) ?? []), s]);
  const acked = new Map<string, Ack>();
  for (const a of acks) acked.set(a.id, a);
  const lost = [...acked.values()]
    .filter((a) => {
      const copies = byId.get(a.id) ?? [];
      return !copies.some((s) => s.actorId === a.actorId && s.version === a.version && s.seq === a.sequence);
    })
    .map((a) => a.id);
  const duplicated = [...byId].filter(([, copies]) => copies.length > 1).map(([id]) => id);
  const unacknowledged = [...byId.keys()].filter((id) => !acked.has(id));
  const last = new Map<string, number>();
  const outOfOrder = new Set<string>();
  for (const s of stored) {
    if (s.version <= (last.get(s.actorId) ?? 0)) outOfOrder.add(s.actorId);
    last.set(s.actorId, s.version);
  }
  return { acknowledged: acked.size, stored: stored.length, lost, duplicated, unacknowledged, outOfOrder: [...outOfOrder] };
}
