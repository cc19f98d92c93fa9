import { getJson } from "./api.js";
import { bytes, errorBox, facts, h, number, table, time } from "./dom.js";
import type { Replica, StreamSummary } from "./types.js";

/** The replicas ($SRV INFO and STATS) and the stream (JetStream's stream info), each on its own. */
export function serviceView(root: HTMLElement): void {
  const replicas = h("section", { class: "card", id: "replicas" }, h("h3", {}, "Replicas"), h("p", { class: "muted" }, "Asking $SRV ..."));
  const stream = h("section", { class: "card", id: "stream" }, h("h3", {}, "Stream"), h("p", { class: "muted" }, "Asking JetStream ..."));
  const refresh = h("button", { onclick: () => load() }, "Refresh");
  root.replaceChildren(h("div", { class: "toolbar" }, h("h2", {}, "Service"), refresh), replicas, stream);

  function load(): void {
    void getJson<Replica[]>("/api/replicas").then(
      (list) =>
        replicas.replaceChildren(
          h("h3", {}, `Replicas (${list.length})`),
          table(
            ["id", "version", "started", "requests", "errors", "avg latency (ms)", "stream"],
            list.map((r) => [
              r.id,
              r.version,
              time(r.started),
              number(r.requests),
              number(r.errors),
              r.averageLatencyMs.toFixed(3),
              r.metadata.stream ?? "-",
            ]),
            [3, 4, 5],
          ),
        ),
      (err) => replicas.replaceChildren(h("h3", {}, "Replicas"), errorBox("The replicas could not be listed", err)),
    );
    void getJson<StreamSummary>("/api/stream").then(
      (s) => stream.replaceChildren(h("h3", {}, `Stream ${s.name}`), streamFacts(s), ...clusterTable(s)),
      (err) => stream.replaceChildren(h("h3", {}, "Stream"), errorBox("The stream's state could not be read", err)),
    );
  }
  load();
}

function streamFacts(s: StreamSummary): HTMLElement {
  return facts([
    ["messages", number(s.messages)],
    ["bytes", bytes(s.bytes)],
    ["first sequence", `${number(s.firstSeq)} (${time(s.firstTime)})`],
    ["last sequence", `${number(s.lastSeq)} (${time(s.lastTime)})`],
    ["actors (subjects)", number(s.subjects)],
    ["consumers", number(s.consumers)],
    ["replicas", s.replicas],
    ["created", time(s.created)],
  ]);
}

function clusterTable(s: StreamSummary): Node[] {
  if (!s.cluster) return [];
  const rows = [
    [s.cluster.leader ?? "(no leader)", "leader", "-", "-"],
    ...s.cluster.replicas.map((r) => [r.name, r.current ? "current" : "behind", number(r.lag), `${(r.activeNs / 1e6).toFixed(0)} ms ago`]),
  ];
  return [h("h3", {}, "Stream replicas"), table(["server", "state", "lag (operations)", "last seen"], rows, [2])];
}
