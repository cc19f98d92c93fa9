import { type ApiError, JetStreamApiError } from "@nats-io/jetstream";
import { JetStreamReplyError, statusError } from "./errors.js";
import type { Requester } from "./requester.js";

const decoder = new TextDecoder();

/**
 * The stream's last sequence, whatever its subject, as its leader (which answers stream info)
 * holds it: one request of constant cost, where the last message of a wildcard would make the
 * server look through every subject of the stream.
 */
export async function streamLastSeq(requester: Requester, stream: string): Promise<number> {
  const reply = await requester.request(`$JS.API.STREAM.INFO.${stream}`, new Uint8Array());
  if (reply.headers?.code) throw statusError(reply);
  const info = JSON.parse(decoder.decode(reply.data)) as { state?: { last_seq?: number }; error?: ApiError };
  if (info.error) throw new JetStreamApiError(info.error);
  const last = info.state?.last_seq;
  if (!Number.isSafeInteger(last)) throw new JetStreamReplyError(`unexpected stream info reply ${decoder.decode(reply.data)}`);
  return last!;
}
