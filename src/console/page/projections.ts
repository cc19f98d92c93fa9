import { getJson, postJson } from "./api.js";
import { confirmDialog } from "./dialog.js";
import { errorBox, h, number, table } from "./dom.js";
import type { ProjectionInfo } from "./types.js";

/** The client's projections (durable consumers proj-<name>) with their state; reset and remove. */
export function projectionsView(root: HTMLElement): void {
  const list = h("div", {}, h("p", { class: "muted" }, "Loading ..."));
  root.replaceChildren(h("div", { class: "toolbar" }, h("h2", {}, "Projections"), h("button", { onclick: () => load() }, "Refresh")), list);

  function load(): void {
    void getJson<ProjectionInfo[]>("/api/projections").then(
      (all) =>
        list.replaceChildren(
          all.length === 0
            ? h("p", { class: "muted" }, "No projections.")
            : table(
                ["name", "mode", "filter", "ack floor", "pending", "redelivered", "active", "failed", "skipped", ""],
                all.map((p) => [
                  p.name,
                  p.mode,
                  p.filter,
                  number(p.ackFloor),
                  number(p.pending),
                  number(p.redelivered),
                  p.active || "-",
                  p.failed === undefined ? "-" : h("span", { class: "badge erased" }, `at ${p.failed}`),
                  p.skipped.length > 0 ? p.skipped.join(", ") : "-",
                  h(
                    "span",
                    {},
                    h("button", { onclick: () => resetDialog(p.name, load) }, "Reset ..."),
                    " ",
                    h("button", { class: "danger", onclick: () => removeDialog(p.name, load) }, "Remove ..."),
                  ),
                ]),
                [3, 4, 5],
              ),
        ),
      (err) => list.replaceChildren(errorBox("The projections could not be listed", err)),
    );
  }
  load();
}

function resetDialog(name: string, reload: () => void): void {
  const target = h(
    "select",
    { name: "target", "aria-label": "reset to" },
    h("option", { value: "start" }, "its start"),
    h("option", { value: "seq" }, "a stream sequence"),
    h("option", { value: "time" }, "a time (RFC 3339)"),
  );
  const value = h("input", { name: "value", placeholder: "sequence or time", "aria-label": "sequence or time" });
  confirmDialog({
    title: `Reset projection ${name}`,
    body: [h("p", {}, `Projection ${name} will process the stream again from the point chosen, running or not.`)],
    extra: [h("label", {}, "Reset to"), target, value],
    mustType: name,
    typeLabel: "Type the projection's name to confirm",
    action: "Reset",
    run: async () => {
      const to = target.value === "start" ? "start" : target.value === "seq" ? { seq: Number(value.value) } : { time: value.value };
      const r = await postJson<{ resetTo: number }>("/api/projections/reset", { name, confirm: name, to });
      reload();
      return h("p", { class: "ok", role: "status" }, `Projection ${name} resumes at sequence ${number(r.resetTo)}.`);
    },
  });
}

function removeDialog(name: string, reload: () => void): void {
  confirmDialog({
    title: `Remove projection ${name}`,
    body: [h("p", {}, `Projection ${name} and its checkpoint are deleted; a process that runs it again starts it anew.`)],
    mustType: name,
    typeLabel: "Type the projection's name to confirm",
    action: "Remove",
    run: async () => {
      const r = await postJson<{ removed: boolean }>("/api/projections/remove", { name, confirm: name });
      reload();
      return h("p", { class: "ok", role: "status" }, r.removed ? `Projection ${name} was removed.` : `There was no projection ${name}.`);
    },
  });
}
