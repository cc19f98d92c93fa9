// What makes a durable consumer of the events stream a projection, read alike by the client that
// runs projections and by the service that reports their lag in its metrics.

/** A projection's name (contract); the metrics take no other as a label value. */
export const PROJECTION_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/** The durable consumers that projections run on are named `proj-<name>`. */
export const PROJECTION_CONSUMER_PREFIX = "proj-";

/** The projection a consumer runs, by its name; undefined when it is no projection's. */
export function projectionOfConsumer(consumer: string): string | undefined {
  if (!consumer.startsWith(PROJECTION_CONSUMER_PREFIX)) return undefined;
  const name = consumer.slice(PROJECTION_CONSUMER_PREFIX.length);
  return PROJECTION_NAME.test(name) ? name : undefined;
}

/** A projection's lag: the events its consumer has not delivered yet plus those delivered but not acknowledged. */
export function projectionLag(info: { num_pending: number; num_ack_pending: number }): number {
  return info.num_pending + info.num_ack_pending;
}
