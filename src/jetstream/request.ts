import type { Msg, MsgHdrs } from "@nats-io/transport-node";
import { InternalError, UnavailableError } from "../contract/errors.js";
import { toStoreError } from "../store/jetstream/errors.js";
import type { Requester } from "./requester.js";

/** One request through the requester, its failures mapped to the errors callers see. */
export async function request(requester: Requester, subject: string, payload: Uint8Array, headers?: MsgHdrs): Promise<Msg> {
  try {
    return await requester.request(subject, payload, headers);
  } catch (err) {
    throw toStoreError(err);
  }
}

/** A JetStream reply that carries a status instead of a message. */
export function statusError(msg: Msg): Error {
  const code = msg.headers?.code ?? 0;
  const description = msg.headers?.description ?? "";
  if (code === 503 || code === 408) return new UnavailableError(`JetStream unavailable (${code} ${description}); retry`);
  return new InternalError(`unexpected JetStream status ${code} ${description}`);
}
