import { ApiError } from "./api.js";

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | undefined | ((e: Event) => void)>;

/** An element with attributes (`on...` ones are listeners) and children; text is never parsed as HTML. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    if (typeof value === "function") el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  append(el, ...children);
  return el;
}

/** Replaces el's children (null, undefined and false are skipped). */
export function fill(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, ...children);
}

export function append(el: Element, ...children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === "number" ? String(c) : c);
  }
}

/** A failure in words: what was being done, then the contract's message and code. */
export function errorBox(what: string, err: unknown): HTMLElement {
  const code = err instanceof ApiError && err.code > 0 ? ` (${err.code}${err.code === 403 ? ": permission denied" : ""})` : "";
  return h("div", { class: "error", role: "alert" }, `${what}: ${err instanceof Error ? err.message : String(err)}${code}`);
}

export function actorLink(actorId: string): HTMLAnchorElement {
  return h("a", { href: `#actor=${encodeURIComponent(actorId)}` }, actorId);
}

export const number = (n: number) => n.toLocaleString("en-US");

export function bytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}

/** An RFC 3339 time as the browser's local time, to the millisecond. */
export function time(iso: string | undefined): string {
  if (!iso || iso.startsWith("0001-")) return "-";
  const d = new Date(iso);
  return Number.isNaN(d.getTime())
    ? iso
    : `${d.toLocaleDateString("sv-SE")} ${d.toLocaleTimeString("en-GB")}.${String(d.getMilliseconds()).padStart(3, "0")}`;
}

/** A table from its header cells and rows (cells of class `num` for numbers). */
export function table(head: string[], rows: Child[][], numeric: number[] = []): HTMLTableElement {
  return h(
    "table",
    {},
    h("thead", {}, h("tr", {}, ...head.map((c, i) => h("th", { class: numeric.includes(i) ? "num" : undefined }, c)))),
    h("tbody", {}, ...rows.map((r) => h("tr", {}, ...r.map((c, i) => h("td", { class: numeric.includes(i) ? "num" : undefined }, c))))),
  );
}

export function facts(pairs: [string, Child][]): HTMLDListElement {
  const dl = h("dl", { class: "facts" });
  for (const [k, v] of pairs) append(dl, h("div", {}, h("dt", {}, k), h("dd", {}, v)));
  return dl;
}

/** JSON as a tree whose objects and arrays fold, open to `openDepth` levels. */
export function jsonTree(value: unknown, openDepth = 2, depth = 0): Node {
  if (value === null || typeof value !== "object") return scalar(value);
  const entries = Array.isArray(value) ? value.map((v, i) => [String(i), v] as const) : Object.entries(value);
  const [open, close] = Array.isArray(value) ? ["[", "]"] : ["{", "}"];
  if (entries.length === 0) return h("span", {}, open + close);
  const details = h("details", { class: "json", open: depth < openDepth });
  append(
    details,
    h("summary", {}, `${open} ${entries.length} ${Array.isArray(value) ? "item" : "key"}${entries.length === 1 ? "" : "s"} ${close}`),
  );
  for (const [k, v] of entries) {
    const child = jsonTree(v, openDepth, depth + 1);
    append(
      details,
      h("div", { class: "kv" }, h("span", { class: "k" }, Array.isArray(value) ? `${k}: ` : `${JSON.stringify(k)}: `), child),
    );
  }
  return details;
}

function scalar(value: unknown): HTMLElement {
  const cls = typeof value === "string" ? "s" : typeof value === "number" ? "n" : "l";
  return h("span", { class: cls }, JSON.stringify(value));
}

/** One line of JSON, cut to `max` characters: a preview. */
export function preview(value: unknown, max = 160): string {
  const s = JSON.stringify(value) ?? "";
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}
