import type { ServiceInfo } from "@nats-io/services";
import { Empty, type NatsConnection, errors as natsErrors } from "@nats-io/transport-node";
import { InternalError, toEventStoreError, UnavailableError } from "../errors.js";

/** The micro service name every eventstore replica registers. */
export const SERVICE_NAME = "eventstore";

/**
 * The events stream's name, from the service metadata any replica reports in $SRV INFO: callers
 * that consume the stream directly need not be configured with it.
 */
export async function discoverStream(nc: NatsConnection, timeoutMs: number): Promise<string> {
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
  const stream = info.metadata?.stream;
  if (!stream) throw new InternalError(`the ${SERVICE_NAME} service ${info.id} reports no "stream" in its metadata`);
  return stream;
}
