import type { ServiceInfo } from "@nats-io/services";
import { Empty, type NatsConnection, errors as natsErrors } from "@nats-io/transport-node";
import { SERVICE_NAME } from "../contract/endpoints.js";
import { InternalError, UnavailableError } from "../contract/errors.js";
import { toEventStoreError } from "./errors.js";

/**
 * The events stream's name, from the service metadata any replica reports in $SRV INFO: callers
 * that consume the stream directly need not be configured with it.
 */
export async function discoverStream(nc: NatsConnection, timeoutMs: number): Promise<string> {
  const info = await serviceInfo(nc, timeoutMs);
  const stream = info.metadata?.stream;
  if (!stream) throw new InternalError(`the ${SERVICE_NAME} service ${info.id} reports no "stream" in its metadata`);
  return stream;
}

/** The largest request the service accepts, from its $SRV INFO metadata; undefined when it does not say. */
export async function discoverMaxRequestBytes(nc: NatsConnection, timeoutMs: number): Promise<number | undefined> {
  const value = (await serviceInfo(nc, timeoutMs)).metadata?.max_request_bytes;
  return value === undefined ? undefined : Number(value);
}

async function serviceInfo(nc: NatsConnection, timeoutMs: number): Promise<ServiceInfo> {
  let info: ServiceInfo;
  try {
    const msg = await nc.request(`$SRV.INFO.${SERVICE_NAME}`, Empty, { timeout: timeoutMs });
    info = msg.json<ServiceInfo>();
  } catch (err) {
    if (err instanceof natsErrors.TimeoutError || (err instanceof natsErrors.RequestError && err.isNoResponders())) {
      throw new UnavailableError(`no ${SERVICE_NAME} service answered $SRV.INFO.${SERVICE_NAME}: start one, or give the stream name`, {
        cause: err,
      });
    }
    throw toEventStoreError(err);
  }
  return info;
}
