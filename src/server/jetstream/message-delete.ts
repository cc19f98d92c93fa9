import { type ApiError, JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import { isMessageDeleteFailed, isSequenceNotFound } from "../../contract/nats-failures.js";
import type { Requester } from "./requester.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Deletes the message at `seq` and overwrites its bytes in the store on every replica (the
 * server's default for a message delete: random bytes in place of the record, subject included).
 * A purge would leave them in the message blocks. Resolves to false when the message was gone.
 */
export async function eraseMessage(requester: Requester, stream: string, seq: number): Promise<boolean> {
  const r = await apiRequest(requester, `$JS.API.STREAM.MSG.DELETE.${stream}`, { seq });
  if (r.error) {
    const err = new JetStreamApiError(r.error);
    if (isSequenceNotFound(err)) return false;
    // Another delete of the same message (a second erase of the actor) may have won the race: the
    // store then fails this one. Gone is what was asked for; any other failure is one.
    if (isMessageDeleteFailed(err) && !(await heldByLeader(requester, stream, seq))) return false;
    throw err;
  }
  return r.success === true;
}

/** Whether the stream's leader still holds a message at `seq`. */
async function heldByLeader(requester: Requester, stream: string, seq: number): Promise<boolean> {
  const r = await apiRequest(requester, `$JS.API.STREAM.MSG.GET.${stream}`, { seq });
  if (r.error?.err_code === JetStreamApiCodes.NoMessageFound) return false;
  if (r.error) throw new JetStreamApiError(r.error);
  return true;
}

async function apiRequest(requester: Requester, subject: string, body: unknown): Promise<{ error?: ApiError; success?: boolean }> {
  const reply = await requester.request(subject, encoder.encode(JSON.stringify(body)));
  return JSON.parse(decoder.decode(reply.data));
}
