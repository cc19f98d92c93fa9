import { ApiError, tailSource } from "./api.js";
import { actorLink, errorBox, h, preview, time } from "./dom.js";
import type { StoredEvent, Tombstone } from "./types.js";

/** Rows kept on the page; older ones drop off the bottom. */
const KEEP = 500;

/** New events as they are stored (server-sent events from the console server), newest first. */
export function tailView(root: HTMLElement, initial: { actorType: string; eventType: string }): () => void {
  const actorType = h("input", { name: "actorType", value: initial.actorType, placeholder: "any", "aria-label": "actor type" });
  const eventType = h("input", { name: "eventType", value: initial.eventType, placeholder: "any", "aria-label": "event type" });
  const status = h("p", { class: "muted", id: "tail-status" }, "Connecting ...");
  const body = h("tbody", {});
  const form = h(
    "form",
    { class: "toolbar" },
    h("label", {}, "Actor type"),
    actorType,
    h("label", {}, "Event type"),
    eventType,
    h("button", {}, "Follow"),
  );
  root.replaceChildren(
    h("h2", {}, "Live tail"),
    form,
    status,
    h(
      "table",
      { class: "tail", id: "tail" },
      h("thead", {}, h("tr", {}, ...["sequence", "shown", "actor", "version", "event type", "data"].map((c) => h("th", {}, c)))),
      body,
    ),
  );

  let source: EventSource | undefined;
  function follow(): void {
    source?.close();
    // Following again: not "following" until the new subscription says it is ready.
    delete status.dataset.following;
    status.replaceChildren("Connecting ...");
    const filter = { actorType: actorType.value.trim(), eventType: eventType.value.trim() };
    const es = tailSource(filter);
    source = es;
    es.addEventListener("ready", () => {
      status.className = "muted";
      status.replaceChildren(
        `Following new events${filter.actorType ? ` of actor type ${filter.actorType}` : ""}${filter.eventType ? ` of event type ${filter.eventType}` : ""}.`,
      );
      status.dataset.following = "true";
    });
    es.addEventListener("event", (m) => show(JSON.parse((m as MessageEvent<string>).data) as Item));
    es.addEventListener("failure", (m) => {
      es.close();
      const { error } = JSON.parse((m as MessageEvent<string>).data) as { error: { code: number; message: string } };
      status.className = "";
      status.replaceChildren(errorBox("The live tail stopped", new ApiError(error.code, error.message)));
    });
    es.addEventListener("error", () => {
      // EventSource reconnects by itself; say so while it does.
      if (es.readyState !== EventSource.CLOSED) status.replaceChildren("Connection lost; reconnecting ...");
      delete status.dataset.following;
    });
  }

  function show(item: Item): void {
    const shown = new Date();
    const tr = item.event
      ? h(
          "tr",
          { class: "new", "data-sequence": item.sequence, "data-shown-at": shown.getTime() },
          h("td", {}, item.sequence),
          h("td", {}, time(shown.toISOString())),
          h("td", {}, actorLink(item.event.actorId)),
          h("td", {}, item.event.version),
          h("td", {}, item.event.eventType),
          h("td", {}, preview(item.event.data, 120)),
        )
      : h(
          "tr",
          { class: "new", "data-sequence": item.sequence, "data-shown-at": shown.getTime() },
          h("td", {}, item.sequence),
          h("td", {}, time(shown.toISOString())),
          h("td", {}, actorLink(item.erased!.actorId)),
          h("td", {}, item.erased!.version),
          h("td", {}, h("span", { class: "badge erased" }, "erased")),
          h("td", {}, item.erased!.reason ?? ""),
        );
    body.prepend(tr);
    while (body.rows.length > KEEP) body.lastElementChild!.remove();
  }

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    follow();
  });
  follow();
  return () => source?.close();
}

type Item = { sequence: number; event: StoredEvent; erased?: undefined } | { sequence: number; erased: Tombstone; event?: undefined };
