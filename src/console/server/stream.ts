import type { NatsConnection } from "@nats-io/transport-node";
import { NotFoundError, toEventStoreError, UnavailableError } from "../../index.js";
import type { StreamSummary } from "../page/types.js";

// The console reads the stream's state and its subjects with the JetStream API directly (the
// service has no endpoint for them), with the console's own NATS user: a user without
// $JS.API.STREAM.INFO.<stream> sees the refusal, not the data.

/** One page of subjects and their message counts, sorted by subject. */
export interface SubjectsPage {
  subjects: [string, number][];
  /** How many subjects match the filter in all. */
  total: number;
}

interface StreamInfoReply {
  error?: { code: number; err_code: number; description: string };
  total?: number;
  created: string;
  config: { name: string; num_replicas: number };
  state: {
    messages: number;
    bytes: number;
    first_seq: number;
    first_ts: string;
    last_seq: number;
    last_ts: string;
    num_subjects?: number;
    consumer_count: number;
    subjects?: Record<string, number>;
  };
  cluster?: { leader?: string; replicas?: { name: string; current: boolean; lag?: number; active: number }[] };
}

export async function streamSummary(nc: NatsConnection, stream: string, timeoutMs: number): Promise<StreamSummary> {
  const info = await streamInfo(nc, stream, {}, timeoutMs);
  const s = info.state;
  return {
    name: info.config.name,
    created: info.created,
    messages: s.messages,
    bytes: s.bytes,
    firstSeq: s.first_seq,
    firstTime: s.first_ts,
    lastSeq: s.last_seq,
    lastTime: s.last_ts,
    subjects: s.num_subjects ?? 0,
    consumers: s.consumer_count,
    replicas: info.config.num_replicas,
    ...(info.cluster
      ? {
          cluster: {
            leader: info.cluster.leader,
            replicas: (info.cluster.replicas ?? []).map((r) => ({ name: r.name, current: r.current, lag: r.lag ?? 0, activeNs: r.active })),
          },
        }
      : {}),
  };
}

/**
 * Subjects of the stream matching filter, from offset on. nats-server answers at most 100,000 per
 * request (JSMaxSubjectDetails); with more, or with an offset, it sorts every matching subject and
 * answers the page at the offset, so that offsets page through one sorted list. A smaller answer
 * comes unsorted: it is sorted here, so that every page is in the same order.
 */
export async function subjectsPage(
  nc: NatsConnection,
  stream: string,
  filter: string,
  offset: number,
  timeoutMs: number,
): Promise<SubjectsPage> {
  const info = await streamInfo(nc, stream, { subjects_filter: filter, offset }, timeoutMs);
  const subjects = Object.entries(info.state.subjects ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return { subjects, total: info.total ?? subjects.length };
}

async function streamInfo(nc: NatsConnection, stream: string, body: object, timeoutMs: number): Promise<StreamInfoReply> {
  const subject = `$JS.API.STREAM.INFO.${stream}`;
  let reply: StreamInfoReply;
  try {
    reply = (await nc.request(subject, JSON.stringify(body), { timeout: timeoutMs })).json<StreamInfoReply>();
  } catch (err) {
    throw toEventStoreError(err);
  }
  if (reply.error) {
    const message = `${subject}: ${reply.error.description} (JetStream error ${reply.error.err_code})`;
    throw reply.error.code === 404 ? new NotFoundError(message) : new UnavailableError(message);
  }
  return reply;
}
