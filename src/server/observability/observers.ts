import type { ServiceMsg } from "@nats-io/services";
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { ATTR_ERROR_TYPE } from "@opentelemetry/semantic-conventions";
import {
  ATTR_MESSAGING_CONSUMER_GROUP_NAME,
  ATTR_MESSAGING_DESTINATION_NAME,
  ATTR_MESSAGING_MESSAGE_BODY_SIZE,
  ATTR_MESSAGING_OPERATION_NAME,
  ATTR_MESSAGING_OPERATION_TYPE,
  ATTR_MESSAGING_SYSTEM,
  MESSAGING_OPERATION_TYPE_VALUE_PROCESS,
  MESSAGING_OPERATION_TYPE_VALUE_SEND,
} from "@opentelemetry/semantic-conventions/incubating";
import type { EndpointName } from "../../contract/endpoints.js";
import type { JetStreamObserver, JetStreamOperation } from "../jetstream/observer.js";
import type { Answer, RequestObserver } from "../service/service.js";
import type { ServiceMetrics } from "./metrics.js";
import { headerGetter, tracer } from "./tracing.js";

/** What measures and traces the service: one observer of its requests, one of its JetStream calls. */
export interface Instruments {
  readonly requests: RequestObserver;
  readonly jetstream: JetStreamObserver;
}

export interface InstrumentsOptions {
  /** Absent: no metrics. */
  readonly metrics?: ServiceMetrics;
  /** Spans are made (an SDK or a test registered a tracer provider). */
  readonly tracing: boolean;
  /** The service's queue group, on its spans. */
  readonly queue: string;
}

export function instruments(options: InstrumentsOptions): Instruments {
  return { requests: requestObserver(options), jetstream: jetstreamObserver(options) };
}

const seconds = (startMs: number) => (performance.now() - startMs) / 1000;

/** Each request measured, and with tracing, one server span that continues the caller's trace. */
function requestObserver({ metrics, tracing, queue }: InstrumentsOptions): RequestObserver {
  return {
    async observe(endpoint, msg, handle) {
      const start = performance.now();
      const answer = tracing ? await traced(endpoint, msg, queue, handle) : await handle();
      metrics?.request(endpoint, answer, seconds(start));
      return answer;
    },
  };
}

async function traced(endpoint: EndpointName, msg: ServiceMsg, queue: string, handle: () => Promise<Answer>): Promise<Answer> {
  const parent = msg.headers ? propagation.extract(ROOT_CONTEXT, msg.headers, headerGetter) : ROOT_CONTEXT;
  const span = tracer.startSpan(
    endpoint,
    {
      kind: SpanKind.SERVER,
      attributes: {
        [ATTR_MESSAGING_SYSTEM]: "nats",
        [ATTR_MESSAGING_DESTINATION_NAME]: msg.subject,
        [ATTR_MESSAGING_OPERATION_TYPE]: MESSAGING_OPERATION_TYPE_VALUE_PROCESS,
        [ATTR_MESSAGING_OPERATION_NAME]: endpoint,
        [ATTR_MESSAGING_CONSUMER_GROUP_NAME]: queue,
        [ATTR_MESSAGING_MESSAGE_BODY_SIZE]: msg.data.length,
      },
    },
    parent,
  );
  const answer = await context.with(trace.setSpan(parent, span), handle);
  if (answer.code !== 0) {
    span.setAttribute(ATTR_ERROR_TYPE, String(answer.code));
    // A refusal (4xx) is the caller's mistake, answered as designed; only a failure marks the span.
    if (answer.code >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
  }
  span.end();
  return answer;
}

/** Each JetStream request timed, and with tracing, a client span under the request's span (none outside a request). */
function jetstreamObserver({ metrics, tracing }: InstrumentsOptions): JetStreamObserver {
  return {
    start(operation, subject) {
      const start = performance.now();
      const span = tracing ? childSpan(operation, subject) : undefined;
      return (err) => {
        metrics?.jetstreamRequest(operation, seconds(start), err !== undefined);
        if (!span) return;
        if (err !== undefined) {
          span.setAttribute(ATTR_ERROR_TYPE, err instanceof Error ? err.name : "error");
          span.setStatus({ code: SpanStatusCode.ERROR });
        }
        span.end();
      };
    },
  };
}

function childSpan(operation: JetStreamOperation, subject: string) {
  const active = context.active();
  // The store's own background requests (the streams' identity check) belong to no request: no trace of them.
  if (!trace.getSpan(active)) return undefined;
  const publishes = operation === "publish" || operation === "batch_publish";
  return tracer.startSpan(
    `jetstream ${operation}`,
    {
      kind: SpanKind.CLIENT,
      attributes: {
        [ATTR_MESSAGING_SYSTEM]: "nats",
        [ATTR_MESSAGING_DESTINATION_NAME]: subject,
        [ATTR_MESSAGING_OPERATION_NAME]: operation,
        ...(publishes ? { [ATTR_MESSAGING_OPERATION_TYPE]: MESSAGING_OPERATION_TYPE_VALUE_SEND } : {}),
      },
    },
    active,
  );
}
