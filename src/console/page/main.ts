import { actorView } from "./actor.js";
import { actorsView, typesView } from "./actors.js";
import { h } from "./dom.js";
import { projectionsView } from "./projections.js";
import { serviceView } from "./service.js";
import { tailView } from "./tail.js";

// The console's views, chosen by the URL's fragment: #service, #actors, #actors=<type>,
// #actor=<actorId> (URL-encoded: a deep link), #tail, #projections.

const view = document.getElementById("view")!;
let leave: (() => void) | undefined;

function route(): void {
  leave?.();
  leave = undefined;
  const [name = "service", raw = ""] = location.hash.slice(1).split(/=(.*)/s);
  const value = decode(raw);
  for (const a of document.querySelectorAll<HTMLAnchorElement>("nav a")) {
    a.classList.toggle("active", a.dataset.view === name || (name === "actor" && a.dataset.view === "actors"));
  }
  const root = h("div", { id: `view-${name}` });
  view.replaceChildren(root);
  leave = show(name, value, root);
}

/** Draws the view; the function it returns, if any, stops what the view keeps running. */
function show(name: string, value: string, root: HTMLElement): (() => void) | undefined {
  switch (name) {
    case "actor":
      if (value) return actorView(root, value);
      typesView(root);
      return undefined;
    case "actors":
      if (value) actorsView(root, value);
      else typesView(root);
      return undefined;
    case "tail":
      return tailView(root, { actorType: "", eventType: "" });
    case "projections":
      projectionsView(root);
      return undefined;
    default:
      serviceView(root);
      return undefined;
  }
}

function decode(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

document.getElementById("open-actor")!.addEventListener("submit", (e) => {
  e.preventDefault();
  const input = (e.currentTarget as HTMLFormElement).elements.namedItem("actor") as HTMLInputElement;
  const id = input.value.trim();
  if (id !== "") location.hash = `actor=${encodeURIComponent(id)}`;
});
window.addEventListener("hashchange", route);
route();
