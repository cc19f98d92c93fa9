import { type MsgHdrs, headers as natsHeaders } from "@nats-io/transport-node";
import { context, propagation, type TextMapSetter, trace } from "@opentelemetry/api";

// The caller's trace context travels to the service in the request's NATS headers (W3C
// traceparent, tracestate), written through whatever propagator the process registered.

const headerSetter: TextMapSetter<MsgHdrs> = {
  set: (carrier, key, value) => carrier.set(key, value),
};

/** Headers that carry the active span's context to the service; undefined when no span is active. */
export function traceHeaders(): MsgHdrs | undefined {
  const active = context.active();
  if (!trace.getSpan(active)) return undefined;
  const h = natsHeaders();
  propagation.inject(active, h, headerSetter);
  return h;
}
