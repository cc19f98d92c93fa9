import type { JetStreamManager } from "@nats-io/jetstream";
import { projectionLag, projectionOfConsumer } from "../../contract/projections.js";
import type { Logger } from "../logger.js";

// A scrape reads at most this many consumers of the stream (about 4 pages of the API's list).
const MAX_CONSUMERS = 1024;
// Projections reported at most: a label value each, and whoever may create consumers picks them.
const MAX_PROJECTIONS = 100;
// Scrapes closer together than this share one reading: several Prometheus servers, or a person reloading.
const CACHE_MS = 5000;

/**
 * Each projection's lag as JetStream keeps it: the events its consumer has not delivered yet plus
 * those delivered but not acknowledged. Projections run in client processes; the service only
 * reads the consumers' info at scrape time, one list at a time, bounded and cached. A list that
 * fails (timeout, permission) answers no lags, rather than old ones, until the next reading.
 * Consumer names are chosen by whoever may create consumers (the projector role), and become label
 * values: only names a projection may have count, and at most MAX_PROJECTIONS of them, so that no
 * one can fill the metrics with labels of their choosing.
 */
export class ProjectionLagReader {
  private last: ReadonlyMap<string, number> = new Map();
  private readAt = 0;
  private reading: Promise<ReadonlyMap<string, number>> | undefined;

  constructor(
    private readonly jsm: JetStreamManager,
    private readonly stream: string,
    private readonly log: Logger,
  ) {}

  lags(): Promise<ReadonlyMap<string, number>> {
    if (Date.now() - this.readAt < CACHE_MS) return Promise.resolve(this.last);
    this.reading ??= this.read().finally(() => {
      this.reading = undefined;
    });
    return this.reading;
  }

  private async read(): Promise<ReadonlyMap<string, number>> {
    const lags = new Map<string, number>();
    let seen = 0;
    try {
      for await (const info of this.jsm.consumers.list(this.stream)) {
        const name = projectionOfConsumer(info.name);
        if (name !== undefined && lags.size < MAX_PROJECTIONS) lags.set(name, projectionLag(info));
        if (++seen >= MAX_CONSUMERS) break;
      }
    } catch (err) {
      this.log.warn({ err: (err as Error).message, stream: this.stream }, "could not read the projections' consumers for the metrics");
      lags.clear();
    }
    this.last = lags;
    this.readAt = Date.now();
    return lags;
  }
}
