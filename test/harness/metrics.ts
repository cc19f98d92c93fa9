import { execFileSync } from "node:child_process";
import type { ServiceProcess } from "./service-process.js";

/** A metric family as prom2json writes it: a histogram's sample has buckets, count and sum instead of a value. */
interface MetricFamily {
  name: string;
  type: string;
  metrics: { labels?: Record<string, string>; value?: string; count?: string }[];
}

export const PROM2JSON_PACKAGE = "github.com/prometheus/prom2json/cmd/prom2json@v1.4.2";
const PROM2JSON_INSTALL = `go install ${PROM2JSON_PACKAGE}`;

/**
 * The exposition parsed whole by prom2json, Prometheus' own text-format parser (the Go expfmt
 * package the server scrapes with); the JavaScript parsers at hand lose the labels of histograms.
 */
function parseExposition(text: string): MetricFamily[] {
  try {
    return JSON.parse(execFileSync("prom2json", { input: text, encoding: "utf8", stdio: ["pipe", "pipe", "pipe"] })) as MetricFamily[];
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") throw new Error(`prom2json is not on PATH: ${PROM2JSON_INSTALL}`);
    throw err;
  }
}

/** EVENTSTORE_METRICS_PORT=0 lets the service pick a free port; it logs the one it got. */
export const METRICS_ENV = { EVENTSTORE_METRICS_PORT: "0" };

export function metricsPort(service: ServiceProcess): number {
  const line = service.logs.find((l) => l.msg === "metrics listening: /metrics, /healthz, /readyz");
  if (!line) throw new Error("the service logged no metrics port: was it started with EVENTSTORE_METRICS_PORT?");
  return line.port as number;
}

export async function get(port: number, path: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, text: await res.text() };
}

// prom-client's default metrics that break a naming rule of promtool: gauges of Node's handles
// named _total. They are the library's names, which dashboards for Node processes expect.
const DEFAULT_METRICS_LINT = new Set(
  ["nodejs_active_handles_total", "nodejs_active_requests_total", "nodejs_active_resources_total"].map(
    (name) => `${name} non-counter metrics should not have "_total" suffix`,
  ),
);

/** promtool's parse and lint of an exposition (format, names, units, help, types): its problems, but the known ones of the default metrics. */
export function promtoolProblems(exposition: string): string[] {
  try {
    execFileSync(process.env.PROMTOOL_BIN!, ["check", "metrics"], { input: exposition, stdio: ["pipe", "pipe", "pipe"] });
    return [];
  } catch (err) {
    const e = err as { stdout?: Buffer; stderr?: Buffer };
    const said = `${e.stdout?.toString() ?? ""}${e.stderr?.toString() ?? ""}`.trim() || String(err);
    return said.split("\n").filter((line) => !DEFAULT_METRICS_LINT.has(line.trim()));
  }
}

/** One scrape, parsed whole; `value` reads a sample by family and labels. */
export class Scrape {
  readonly families: Map<string, MetricFamily>;

  constructor(readonly text: string) {
    this.families = new Map(parseExposition(text).map((f) => [f.name, f]));
  }

  static async of(port: number): Promise<Scrape> {
    const { status, text } = await get(port, "/metrics");
    if (status !== 200) throw new Error(`/metrics answered ${status}: ${text}`);
    return new Scrape(text);
  }

  /** A counter's or gauge's value (0 when the series does not exist yet), or a histogram's count. */
  value(name: string, labels: Record<string, string> = {}): number {
    const family = this.families.get(name);
    const sample = family?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
    if (!sample) return 0;
    return Number(sample.count ?? sample.value);
  }

  /** Whether a series with these labels exists. */
  has(name: string, labels: Record<string, string> = {}): boolean {
    return !!this.families.get(name)?.metrics.some((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
  }
}
