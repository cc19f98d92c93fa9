import { append, errorBox, h } from "./dom.js";

export interface ConfirmOptions {
  title: string;
  /** What happens, in words. */
  body: Node[];
  /** The text to type to confirm (an actor id, a projection's name). */
  mustType: string;
  typeLabel: string;
  /** More inputs (a reason, a reset target), shown before the typed confirmation. */
  extra?: Node[];
  action: string;
  /** Runs on confirm; its result (or error) is shown in the dialog, which stays open until closed. */
  run: () => Promise<Node>;
}

/** A modal that does nothing until the typed text equals `mustType` exactly. */
export function confirmDialog(o: ConfirmOptions): HTMLDialogElement {
  const typed = h("input", { name: "confirm", autocomplete: "off", spellcheck: "false", "aria-label": o.typeLabel });
  const go = h("button", { class: "danger", type: "submit", disabled: true }, o.action);
  const result = h("div", { class: "result" });
  const dialog = h("dialog", { class: "confirm" });
  const form = h(
    "form",
    {},
    h("h3", {}, o.title),
    ...o.body,
    ...(o.extra ?? []),
    h("label", {}, o.typeLabel),
    typed,
    result,
    h("div", { class: "buttons" }, h("button", { type: "button", onclick: () => dialog.close() }, "Close"), go),
  );
  typed.addEventListener("input", () => {
    go.disabled = typed.value !== o.mustType;
  });
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    if (typed.value !== o.mustType) return;
    go.disabled = true;
    result.replaceChildren(h("p", { class: "muted" }, "Working ..."));
    void o.run().then(
      (node) => result.replaceChildren(node),
      (err: unknown) => {
        result.replaceChildren(errorBox(`${o.action} failed`, err));
        go.disabled = false;
      },
    );
  });
  append(dialog, form);
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  typed.focus();
  return dialog;
}
