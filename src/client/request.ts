import { setTimeout as sleep } from "node:timers/promises";
import { type NatsConnection, errors as natsErrors } from "@nats-io/transport-node";
import { ENDPOINTS, type EndpointName, type RequestOf, type ResponseOf } from "../contract/endpoints.js";
import { ErrorCodes, type EventStoreError, InternalError, UnavailableError, ValidationError } from "../contract/errors.js";
import { toEventStoreError } from "./errors.js";
import { errorFromReply } from "./reply-error.js";
import { backoffMs, type RetryOptions } from "./retry.js";
import { traceHeaders } from "./tracing.js";

const encoder = new TextEncoder();

/**
 * Sends one endpoint request and returns its parsed reply, or throws the service's error.
 * A timeout, no responders or a 503 is retried with backoff; every attempt sends the very same
 * bytes (same event id, same timestamp), so an attempt whose reply was lost after the event was
 * stored comes back from the retry as a duplicate, never as a conflict or a second copy.
 */
export function requestWithRetry<E extends EndpointName>(
  nc: NatsConnection,
  endpoint: E,
  body: RequestOf<E>,
  timeoutMs: number,
  retry: RetryOptions,
): Promise<ResponseOf<E>> {
  return sendWithRetry(nc, endpoint, encoder.encode(JSON.stringify(body)), timeoutMs, retry);
}

/** The same with the request's JSON given as bytes, sent as they are. */
export async function sendWithRetry<E extends EndpointName>(
  nc: NatsConnection,
  endpoint: E,
  payload: Uint8Array,
  timeoutMs: number,
  retry: RetryOptions,
): Promise<ResponseOf<E>> {
  const subject = ENDPOINTS[endpoint].subject;
  // The caller's active span, if any, becomes the parent of the service's span (W3C traceparent).
  const headers = traceHeaders();
  checkSize(nc, subject, payload.length);
  for (let attempt = 1; ; attempt++) {
    let failure: EventStoreError;
    let transient: boolean;
    try {
      const msg = await nc.request(subject, payload, { timeout: timeoutMs, headers });
      const refused = errorFromReply(msg);
      if (!refused) return parseReply<ResponseOf<E>>(subject, msg.data);
      failure = refused;
      transient = refused.code === ErrorCodes.UnavailableError;
    } catch (err) {
      // What nats.js refuses to send (the payload with its trace headers over max_payload) is the
      // caller's request: a 400 as well.
      if (err instanceof natsErrors.InvalidArgumentError)
        throw new ValidationError(`${subject}: NATS cannot send the request: ${err.message}`);
      transient = isTransient(err);
      failure = transient
        ? new UnavailableError(`${subject}: ${transientReason(err, timeoutMs)} (attempt ${attempt} of ${retry.attempts})`, {
            cause: err,
          })
        : toEventStoreError(err);
    }
    if (!transient || attempt >= retry.attempts) throw failure;
    const delayMs = backoffMs(retry, attempt);
    retry.onRetry?.({ endpoint, attempt, delayMs, error: failure });
    await sleep(delayMs);
  }
}

/**
 * A request larger than the server's max_payload cannot be sent at all: it is the caller's request
 * that is too large, a 400 as the service answers for one over its own limit, never retried.
 */
function checkSize(nc: NatsConnection, subject: string, bytes: number): void {
  const maxPayload = nc.info?.max_payload;
  if (maxPayload !== undefined && bytes > maxPayload) {
    throw new ValidationError(
      `${subject}: the request is too large: ${bytes} bytes, more than the NATS server's max_payload of ${maxPayload}`,
    );
  }
}

function parseReply<Reply>(subject: string, data: Uint8Array): Reply {
  try {
    return JSON.parse(new TextDecoder().decode(data)) as Reply;
  } catch {
    throw new InternalError(`${subject}: the reply is not JSON`);
  }
}

/** Failures after which the request may or may not have been served: safe to send again. */
function isTransient(err: unknown): boolean {
  return (
    err instanceof natsErrors.TimeoutError ||
    err instanceof natsErrors.NoRespondersError ||
    (err instanceof natsErrors.RequestError && err.isNoResponders())
  );
}

function transientReason(err: unknown, timeoutMs: number): string {
  return err instanceof natsErrors.TimeoutError ? `no reply within ${timeoutMs} ms` : "no responders: is an eventstore service running?";
}
