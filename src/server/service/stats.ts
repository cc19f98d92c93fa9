import type { Service, ServiceStats } from "@nats-io/services";
import type { StoreCounters } from "../store/event-store.js";

/** What one endpoint has done, measured around the whole asynchronous request. */
export class EndpointStats {
  requests = 0;
  errors = 0;
  lastError = "";
  processingNs = 0;
  readonly errorsByCode: Record<string, number> = {};

  record(startNs: bigint, error?: { code: number; message: string }): void {
    this.requests++;
    this.processingNs += Number(process.hrtime.bigint() - startNs);
    if (error) {
      this.errors++;
      this.lastError = `${error.code} ${error.message}`;
      this.errorsByCode[error.code] = (this.errorsByCode[error.code] ?? 0) + 1;
    }
  }
}

/**
 * @nats-io/services 3.0.0-25 times only the synchronous part of a handler, does not count a
 * respondError reply as an error, and leaves last_error out until one happens, which fails the
 * official STATS schema. Our figures replace its figures in every STATS reply.
 */
export function reportStats(
  service: Service,
  stats: ReadonlyMap<string, EndpointStats>,
  data: (endpoint: string, stats: EndpointStats) => Record<string, unknown>,
): void {
  const libraryStats = service.stats.bind(service);
  service.stats = async (): Promise<ServiceStats> => {
    const reply = await libraryStats();
    reply.endpoints = (reply.endpoints ?? []).map((e) => {
      const mine = stats.get(e.name);
      if (!mine) return { ...e, last_error: e.last_error ?? "" };
      return {
        ...e,
        num_requests: mine.requests,
        num_errors: mine.errors,
        last_error: mine.lastError,
        processing_time: mine.processingNs,
        average_processing_time: mine.requests > 0 ? Math.round(mine.processingNs / mine.requests) : 0,
        data: data(e.name, mine),
      };
    });
    return reply;
  };
}

/** A write endpoint's store counters as STATS data, spelled like the rest of the reply. */
export function counterData(c: StoreCounters | undefined): Record<string, number> {
  if (!c) return {};
  return { conflicts: c.conflicts, duplicates: c.duplicates, cache_hits: c.cacheHits, cache_misses: c.cacheMisses, retries: c.retries };
}
