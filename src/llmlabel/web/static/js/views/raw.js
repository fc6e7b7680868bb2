// Fallback review view for task types without their own: the input as JSON and
// the label as editable JSON.

import { canonical, h, replace } from "../dom.js";

export function summarize(label) {
  const text = JSON.stringify(label);
  return text.length > 90 ? `${text.slice(0, 90)}…` : text;
}

export function mount(root, { claim, onChange }) {
  const editor = h("textarea", { id: "raw-label", rows: 12, class: "mono", spellcheck: "false", oninput: () => onChange() });
  editor.value = JSON.stringify(claim.label, null, 2);
  const error = h("p", { class: "error", role: "alert" });
  replace(root, h("div", { class: "raw" },
    h("h3", {}, "Input"), h("pre", { class: "item-text mono" }, JSON.stringify(claim.input, null, 2)),
    h("label", { class: "field" }, h("span", {}, "Label (JSON)"), editor), error));
  const parse = () => {
    try { error.textContent = ""; return JSON.parse(editor.value); } catch (err) { error.textContent = err.message; return undefined; }
  };
  return {
    label: parse,
    changed: () => canonical(parse()) !== canonical(claim.label),
  };
}
