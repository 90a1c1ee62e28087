// A path the app has no page for.
import { h, replace } from "../app/dom.js";
import type { View } from "../app/view.js";

export const notFoundView: View = {
  mount(main, ctx) {
    ctx.title("Not found");
    replace(
      main,
      h(
        "div",
        { class: "problem", role: "alert" },
        h("h1", {}, "No such page"),
        h("p", {}, "Nothing lives at ", h("code", {}, location.pathname), " here."),
        h("p", {}, h("a", { href: "/", class: "button secondary" }, "All tasks")),
      ),
    );
  },
};
