import type { EndpointName } from "../contract/endpoints.js";
import type { EventStoreError } from "../contract/errors.js";

/** What a retry is about to do, for logging or metrics. */
export interface RetryInfo {
  endpoint: EndpointName;
  /** The attempt that just failed, from 1. */
  attempt: number;
  /** The pause before the next attempt. */
  delayMs: number;
  error: EventStoreError;
}

export interface RetryOptions {
  /** Attempts in all, the first included: 1 means never retry. */
  attempts: number;
  /** The pause after the first failed attempt; each later pause doubles, up to maxDelayMs. */
  initialDelayMs: number;
  maxDelayMs: number;
  onRetry?: (info: RetryInfo) => void;
}

export const DEFAULT_RETRY: Readonly<RetryOptions> = Object.freeze({
  attempts: 5,
  initialDelayMs: 100,
  maxDelayMs: 2000,
});

export function retryOptions(given: Partial<RetryOptions> = {}): RetryOptions {
  const options = { ...DEFAULT_RETRY, ...given };
  if (!Number.isInteger(options.attempts) || options.attempts < 1) {
    throw new RangeError(`retry.attempts must be an integer >= 1, got ${options.attempts}`);
  }
  if (!(options.initialDelayMs >= 0) || !(options.maxDelayMs >= options.initialDelayMs)) {
    throw new RangeError("retry delays must satisfy 0 <= initialDelayMs <= maxDelayMs");
  }
  return options;
}

/**
 * The pause after a failed attempt: exponential, capped, and drawn from its upper half so that
 * clients that failed together do not all come back at the same instant.
 */
export function backoffMs(options: RetryOptions, attempt: number): number {
  const ceiling = Math.min(options.maxDelayMs, options.initialDelayMs * 2 ** (attempt - 1));
  return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
}
