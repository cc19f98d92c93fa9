import { type ApiError, JetStreamApiError } from "@nats-io/jetstream";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { request } from "./request.js";
import type { Requester } from "./requester.js";

const decoder = new TextDecoder();

/**
 * When the stream was created, as its leader says: null when it does not exist, undefined when
 * nothing answered. A stream deleted and created again has a new creation time.
 */
export async function streamCreated(requester: Requester, stream: string): Promise<string | null | undefined> {
  try {
    const reply = await requester.request(`$JS.API.STREAM.INFO.${stream}`, new Uint8Array());
    const info = JSON.parse(decoder.decode(reply.data)) as { created?: string; error?: unknown };
    return info.error ? null : info.created;
  } catch {
    return undefined;
  }
}

// Advisories of a stream that is not the one it was: gone, new, or restored from a backup.
const REPLACED = new Set(["CREATED", "DELETED", "RESTORE_COMPLETE"]);

/** Calls `replaced` whenever JetStream announces that the stream was created, deleted or restored. */
export function onStreamReplaced(nc: NatsConnection, stream: string, replaced: () => void): Subscription {
  return nc.subscribe(`$JS.EVENT.ADVISORY.STREAM.*.${stream}`, {
    callback: (err, msg) => {
      if (!err && REPLACED.has(msg.subject.split(".")[4]!)) replaced();
    },
  });
}

/** Removes a subject's messages from a stream, but for its last `keep`; resolves to how many went. */
export async function purge(requester: Requester, stream: string, filter: string, keep = 0): Promise<number> {
  const body = new TextEncoder().encode(JSON.stringify(keep > 0 ? { filter, keep } : { filter }));
  const reply = await request(requester, `$JS.API.STREAM.PURGE.${stream}`, body);
  const r = JSON.parse(decoder.decode(reply.data)) as { error?: ApiError; purged?: number };
  if (r.error) throw new JetStreamApiError(r.error);
  return r.purged ?? 0;
}
