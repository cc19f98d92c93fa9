import type { MsgHdrs } from "@nats-io/transport-node";
import { type TextMapGetter, trace } from "@opentelemetry/api";
import { tracingConfigured } from "./environment.js";

// W3C trace context travels in NATS headers (traceparent, tracestate), read (here, for the
// service) and written (src/client/tracing.ts) through whatever propagator the process registered:
// the SDK's default is the W3C one.

/** The spans of the service and of the client; a no-op tracer until an SDK registers a provider. */
export const tracer = trace.getTracer("nats-eventstore");

export const headerGetter: TextMapGetter<MsgHdrs> = {
  keys: (carrier) => carrier.keys(),
  get: (carrier, key) => (carrier.has(key) ? carrier.get(key) : undefined),
};

export interface Tracing {
  shutdown(): Promise<void>;
}

/**
 * Starts the OpenTelemetry Node SDK when the environment configures it (OTEL_EXPORTER_OTLP_ENDPOINT,
 * OTEL_SERVICE_NAME, ...: the SDK reads them); otherwise nothing is loaded and nothing is exported.
 * The metrics are Prometheus' and the logs pino's, so the SDK exports only traces unless
 * OTEL_METRICS_EXPORTER or OTEL_LOGS_EXPORTER asks for more.
 */
export async function startTracing(env: NodeJS.ProcessEnv, serviceName: string): Promise<Tracing | undefined> {
  if (!tracingConfigured(env)) return undefined;
  const { NodeSDK } = await import("@opentelemetry/sdk-node");
  const sdk = new NodeSDK({
    ...(env.OTEL_SERVICE_NAME ? {} : { serviceName }),
    ...(env.OTEL_METRICS_EXPORTER ? {} : { metricReaders: [] }),
    ...(env.OTEL_LOGS_EXPORTER ? {} : { logRecordProcessors: [] }),
    instrumentations: [],
  });
  sdk.start();
  return sdk;
}
