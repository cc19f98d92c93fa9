import { getJson } from "./api.js";
import { actorLink, errorBox, fill, h, number, table } from "./dom.js";
import type { ActorsAnswer, TypesAnswer } from "./types.js";

/** Actor types with their counts, from the stream's subjects. */
export function typesView(root: HTMLElement): void {
  root.replaceChildren(h("h2", {}, "Actor types"), h("p", { class: "muted" }, "Reading the stream's subjects ..."));
  void getJson<TypesAnswer>("/api/types").then(
    (t) =>
      fill(
        root,
        h("h2", {}, "Actor types"),
        t.counted < t.total
          ? h("p", { class: "muted" }, `Counted in the first ${number(t.counted)} of ${number(t.total)} actors (in subject order).`)
          : null,
        t.types.length === 0
          ? h("p", { class: "muted" }, "No actors yet.")
          : table(
              ["actor type", "actors", "messages"],
              t.types.map((x) => [h("a", { href: `#actors=${encodeURIComponent(x.type)}` }, x.type), number(x.actors), number(x.messages)]),
              [1, 2],
            ),
      ),
    (err) => root.replaceChildren(h("h2", {}, "Actor types"), errorBox("The actor types could not be read", err)),
  );
}

/** The actors of one type, a page at a time, with their latest version; search by id prefix. */
export function actorsView(root: HTMLElement, type: string): void {
  const prefix = h("input", { name: "prefix", placeholder: `${type}-...`, "aria-label": "actor id prefix" });
  const list = h("div", {});
  let offset = 0;
  const form = h("form", { class: "toolbar" }, h("label", {}, "Actor id starts with"), prefix, h("button", {}, "Search"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    offset = 0;
    load();
  });
  root.replaceChildren(h("h2", {}, h("a", { href: "#actors" }, "Actor types"), ` / ${type}`), form, list);

  function load(): void {
    list.replaceChildren(h("p", { class: "muted" }, "Loading ..."));
    void getJson<ActorsAnswer>("/api/actors", { type, prefix: prefix.value, offset }).then(
      (a) => {
        const first = a.actors.length === 0 ? 0 : a.offset + 1;
        const last = a.offset + a.actors.length;
        const of = prefix.value === "" ? ` of ${number(a.total)}` : a.complete ? "" : " (searched part of the type)";
        list.replaceChildren(
          a.actors.length === 0
            ? h("p", { class: "muted" }, "No actors found.")
            : table(
                ["actor", "version", "messages", ""],
                a.actors.map((r) => [
                  actorLink(r.actorId),
                  r.error ? h("span", { class: "error" }, r.error) : number(r.version ?? 0),
                  number(r.messages),
                  r.erased ? h("span", { class: "badge erased" }, "erased") : "",
                ]),
                [1, 2],
              ),
          h(
            "div",
            { class: "toolbar" },
            h("button", { disabled: a.offset === 0, onclick: () => page(-1) }, "Previous"),
            h("span", { class: "muted" }, `${number(first)}-${number(last)}${of}`),
            h("button", { disabled: !a.hasMore, onclick: () => page(1) }, "Next"),
          ),
        );
        function page(direction: number): void {
          offset = Math.max(0, offset + direction * PAGE);
          load();
        }
      },
      (err) => list.replaceChildren(errorBox(`The actors of type ${type} could not be listed`, err)),
    );
  }
  load();
}

/** Actors per page: the server's ACTORS_PAGE. */
const PAGE = 50;
