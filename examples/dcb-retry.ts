// The retry loop the three dcb.events examples share (unique-username.ts, course-subscriptions.ts,
// invoice-numbers.ts). Each makes a decision by reading a query, folding what it returns and
// appending with `condition: {failIfEventsMatch: <that query>, after: <the read's head>}`. A
// ConditionFailedError means an event that matches the query was stored after the read, so the
// decision may be wrong: read again and decide again. Nothing was stored by the refused attempt,
// so the next one is a new decision with new events. Bounded: under endless contention the last
// ConditionFailedError is thrown (the caller may try later). Other errors are not retried here: the
// client already retries timeouts and 503s with the same event ids (src/client/retry.ts).
import { ConditionFailedError } from "../src/index.js";

export const DEFAULT_ATTEMPTS = 10;

export interface DecisionOptions {
  /** Decisions in all, the first included (default 10). */
  attempts?: number;
}

export async function retryOnConditionFailed<T>(options: DecisionOptions, decideAndAppend: () => Promise<T>): Promise<T> {
  const attempts = options.attempts ?? DEFAULT_ATTEMPTS;
  for (let attempt = 1; ; attempt++) {
    try {
      return await decideAndAppend();
    } catch (err) {
      if (!(err instanceof ConditionFailedError) || attempt >= attempts) throw err;
    }
  }
}
