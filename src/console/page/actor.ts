import { getJson, postJson } from "./api.js";
import { confirmDialog } from "./dialog.js";
import { errorBox, facts, fill, h, jsonTree, number, preview, time } from "./dom.js";
import type { ActorAnswer, EraseAnswer, EventsPage, StoredEvent } from "./types.js";

/** Height of one event row in pixels (the CSS's --row): every row has it, so only visible rows are drawn. */
const ROW = 28;
/** Rows drawn above and below the visible ones. */
const OVERSCAN = 20;
/** Events per request. */
const PAGE = 200;

/**
 * One actor: its version and erased state, its latest snapshot, and its events in a virtualised
 * list (only the rows in view are in the DOM; the next page is fetched as the end comes into view),
 * with the selected event in full beside it.
 */
export function actorView(root: HTMLElement, actorId: string): () => void {
  const header = h("div", { class: "toolbar" }, h("h2", {}, actorId));
  const summary = h("section", { class: "card", id: "actor-summary" }, h("p", { class: "muted" }, "Loading ..."));
  const status = h("p", { class: "muted", id: "events-status" }, "Loading events ...");
  const scroller = h("div", { class: "events", id: "events" });
  const spacer = h("div", { class: "spacer" });
  scroller.append(spacer);
  const detail = h("section", { class: "card detail", id: "event-detail" }, h("p", { class: "muted" }, "Select an event to see it whole."));
  root.replaceChildren(
    header,
    summary,
    h("div", { class: "split" }, h("div", {}, status, h("div", { class: "row-head" }, rowHead()), scroller), detail),
  );

  const events: StoredEvent[] = [];
  let hasMore = true;
  let loading = false;
  let failed = false;
  let selected = -1;
  let alive = true;
  const opened = performance.now();
  let firstPageMs: number | undefined;

  async function more(): Promise<void> {
    if (loading || !hasMore || failed) return;
    loading = true;
    try {
      const page = await getJson<EventsPage>("/api/events", { id: actorId, from: events.at(-1)?.version ?? 0, limit: PAGE });
      if (!alive) return;
      events.push(...page.events);
      hasMore = page.hasMore;
      if (firstPageMs === undefined) firstPageMs = performance.now() - opened;
      if (page.erased) status.replaceChildren(h("span", { class: "badge erased" }, "erased"), " This actor was erased: it has no events.");
      else showStatus();
    } catch (err) {
      failed = true;
      status.replaceChildren(errorBox("The events could not be read", err));
    } finally {
      loading = false;
    }
    draw();
  }

  function showStatus(): void {
    const first = firstPageMs === undefined ? "" : ` · first page in ${Math.round(firstPageMs)} ms`;
    status.replaceChildren(`${number(events.length)}${hasMore ? "+" : ""} event${events.length === 1 ? "" : "s"}${first}`);
    status.dataset.firstPageMs = String(Math.round(firstPageMs ?? 0));
  }

  function draw(): void {
    spacer.style.height = `${(events.length + (hasMore ? 1 : 0)) * ROW}px`;
    const from = Math.max(0, Math.floor(scroller.scrollTop / ROW) - OVERSCAN);
    const to = Math.min(events.length, Math.ceil((scroller.scrollTop + scroller.clientHeight) / ROW) + OVERSCAN);
    const rows: HTMLElement[] = [];
    for (let i = from; i < to; i++) rows.push(row(events[i]!, i));
    spacer.replaceChildren(...rows);
    if (hasMore && to >= events.length - OVERSCAN) void more();
  }

  function row(e: StoredEvent, i: number): HTMLElement {
    const el = h(
      "div",
      { class: i === selected ? "row selected" : "row", "data-version": e.version, onclick: () => select(i) },
      h("span", {}, `v${e.version}`),
      h("span", {}, e.eventType),
      h("span", {}, time(e.timestamp)),
      h("span", {}, ...(e.tags ?? []).map((t) => h("span", { class: "badge" }, t)), preview(e.data)),
    );
    // Through the CSSOM: the console's content policy refuses style attributes.
    el.style.top = `${i * ROW}px`;
    return el;
  }

  function select(i: number): void {
    selected = i;
    const e = events[i]!;
    detail.replaceChildren(
      h("h3", {}, `${e.eventType} · version ${e.version}`),
      facts([
        ["id", e.id],
        ["timestamp", e.timestamp],
        ["tags", e.tags && e.tags.length > 0 ? h("span", {}, ...e.tags.map((t) => h("span", { class: "badge" }, t))) : "-"],
      ]),
      h("h3", {}, "data"),
      jsonTree(e.data),
      h("h3", {}, "metadata"),
      e.metadata && Object.keys(e.metadata).length > 0 ? jsonTree(e.metadata) : h("p", { class: "muted" }, "none"),
    );
    draw();
  }

  let frame = 0;
  scroller.addEventListener("scroll", () => {
    cancelAnimationFrame(frame);
    frame = requestAnimationFrame(draw);
  });

  void getJson<ActorAnswer>("/api/actor", { id: actorId }).then(
    (a) => {
      if (!alive) return;
      fill(
        header,
        h("h2", {}, actorId),
        a.version.erased ? h("span", { class: "badge erased" }, "erased") : null,
        h("button", { class: "danger", onclick: () => eraseDialog(actorId) }, "Erase ..."),
      );
      fill(
        summary,
        facts([
          ["latest version", number(a.version.version)],
          ["state", a.version.erased ? "erased" : a.version.version === 0 ? "no events" : "live"],
          [
            "snapshot",
            a.snapshot ? `version ${number(a.snapshot.version)} (${time(a.snapshot.timestamp)})` : a.snapshotError ? "-" : "none",
          ],
        ]),
        a.snapshotError ? errorBox("The snapshot could not be read", new Error(a.snapshotError)) : null,
        a.snapshot ? h("details", { class: "snapshot" }, h("summary", {}, "Snapshot state"), jsonTree(a.snapshot.state, 1)) : null,
      );
    },
    (err) => summary.replaceChildren(errorBox("The actor could not be read", err)),
  );
  void more();
  return () => {
    alive = false;
  };
}

function rowHead(): HTMLElement {
  return h(
    "div",
    { class: "row head" },
    h("span", {}, "version"),
    h("span", {}, "event type"),
    h("span", {}, "timestamp"),
    h("span", {}, "tags · data"),
  );
}

/** Erase, confirmed by typing the actor's id; the reason is kept in the tombstone as given. */
function eraseDialog(actorId: string): void {
  const reason = h("input", { name: "reason", maxlength: 256, placeholder: "e.g. erasure request #1234", "aria-label": "reason" });
  confirmDialog({
    title: `Erase ${actorId}`,
    body: [h("p", {}, "Every event and snapshot of this actor is deleted for good, and it takes no more writes. This cannot be undone.")],
    extra: [
      h("label", {}, "Reason (optional)"),
      reason,
      h(
        "p",
        { class: "warn" },
        "The reason is kept as given in the tombstone, which every consumer of the stream sees: it must hold no personal data.",
      ),
    ],
    mustType: actorId,
    typeLabel: "Type the actor id to confirm",
    action: "Erase",
    run: async () => {
      const r = await postJson<EraseAnswer>("/api/erase", { actorId, confirm: actorId, reason: reason.value });
      return h(
        "p",
        { class: "ok", role: "status" },
        `Erased ${r.actorId} at version ${r.version}: ${number(r.erasedEvents)} events and ${number(r.erasedSnapshots)} snapshots deleted (erased at ${r.erasedAt}).`,
      );
    },
  });
}
