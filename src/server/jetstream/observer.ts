/** The JetStream requests the store makes, named for metrics and spans. */
export type JetStreamOperation =
  | "publish"
  | "batch_publish"
  | "direct_get"
  | "direct_get_batch"
  | "leader_get"
  | "msg_delete"
  | "stream_info"
  | "consumer"
  | "other";

/**
 * Told of each JetStream request as it starts; the function it returns is called once as the
 * request ends, with the error when it failed. Metrics and tracing implement it (src/observability/).
 */
export interface JetStreamObserver {
  start(operation: JetStreamOperation, subject: string): (err?: unknown) => void;
}

/** The operation a request to this subject is: the JetStream API's prefix, or a publish to a stream. */
export function operationOf(subject: string): JetStreamOperation {
  if (!subject.startsWith("$JS.API.")) return "publish";
  if (subject.startsWith("$JS.API.DIRECT.GET.")) return "direct_get";
  if (subject.startsWith("$JS.API.STREAM.MSG.GET.")) return "leader_get";
  if (subject.startsWith("$JS.API.STREAM.MSG.DELETE.")) return "msg_delete";
  if (subject.startsWith("$JS.API.STREAM.INFO.")) return "stream_info";
  if (subject.startsWith("$JS.API.CONSUMER.")) return "consumer";
  return "other";
}

/** Runs one request under the observer, when there is one. */
export async function observed<T>(
  observer: JetStreamObserver | undefined,
  operation: JetStreamOperation,
  subject: string,
  run: () => Promise<T>,
): Promise<T> {
  if (!observer) return run();
  const end = observer.start(operation, subject);
  try {
    const result = await run();
    end();
    return result;
  } catch (err) {
    end(err);
    throw err;
  }
}
