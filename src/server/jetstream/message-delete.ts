import { type ApiError, JetStreamApiError } from "@nats-io/jetstream";
import { isSequenceNotFound } from "../../contract/nats-failures.js";
import type { Requester } from "./requester.js";

const decoder = new TextDecoder();

/**
 * Deletes the message at `seq` and overwrites its bytes in the store on every replica (the
 * server's default for a message delete: random bytes in place of the record, subject included).
 * A purge would leave them in the message blocks. Resolves to false when the message was gone.
 */
export async function eraseMessage(requester: Requester, stream: string, seq: number): Promise<boolean> {
  const reply = await requester.request(`$JS.API.STREAM.MSG.DELETE.${stream}`, new TextEncoder().encode(JSON.stringify({ seq })));
  const r = JSON.parse(decoder.decode(reply.data)) as { error?: ApiError; success?: boolean };
  if (r.error) {
    const err = new JetStreamApiError(r.error);
    if (isSequenceNotFound(err)) return false;
    throw err;
  }
  return r.success === true;
}
