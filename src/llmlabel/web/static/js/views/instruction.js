// Instruction review: the instruction and its context, the LLM's response in an
// editable text area, and the category. Guideline versions in "rate" mode review a
// quality score (1-5) and a list of issues instead. Keys 1-9 pick the n-th category
// (or the quality 1-5) when no text field has the focus.

import { canonical, h, replace } from "../dom.js";

export function summarize(label) {
  if (!label) return "no label";
  if ("quality" in label) return `quality ${label.quality}${label.issues && label.issues.length ? ` · ${label.issues.join(", ")}` : ""}`;
  const text = String(label.response || "").replace(/\s+/g, " ");
  return `${label.category || "?"} · ${text.length > 70 ? `${text.slice(0, 70)}…` : text}`;
}

function block(title, text, id) {
  return h("div", { class: "block" }, h("h3", {}, title), h("div", { class: "item-text", id }, text));
}

export function mount(root, { claim, guideline, onChange }) {
  const rating = (guideline.options && guideline.options.mode) === "rate";
  const input = claim.input;
  const initial = claim.label;
  const parts = [block("Instruction", input.instruction, "instruction-text")];
  if (input.context) parts.push(block("Context", input.context, "instruction-context"));

  let current;
  let pick = () => false; // digit -> handled?
  if (rating) {
    if (input.response) parts.push(block("Response to rate", input.response, "instruction-given"));
    const quality = h("select", { id: "instruction-quality", onchange: () => onChange() },
      [1, 2, 3, 4, 5].map((q) => h("option", { value: q, selected: initial && initial.quality === q }, String(q))));
    const issues = h("textarea", { id: "instruction-issues", rows: 3, placeholder: "One issue per line", oninput: () => onChange() });
    issues.value = ((initial && initial.issues) || []).join("\n");
    parts.push(h("div", { class: "row" },
      h("label", { class: "field" }, h("span", {}, "Quality (1–5)"), quality),
      h("label", { class: "field grow" }, h("span", {}, "Issues"), issues)));
    pick = (digit) => {
      if (digit > 5) return false;
      quality.value = String(digit);
      onChange();
      return true;
    };
    current = () => ({
      quality: Number(quality.value),
      issues: issues.value.split("\n").map((s) => s.trim()).filter(Boolean),
    });
  } else {
    const response = h("textarea", { id: "instruction-response", rows: 10, spellcheck: "true", oninput: () => onChange() });
    response.value = (initial && initial.response) || "";
    const description = h("span", { class: "hint", id: "category-hint" });
    const category = h("select", {
      id: "instruction-category",
      onchange: () => { description.textContent = guideline.label_descriptions[category.value] || ""; onChange(); },
    }, guideline.labels.map((c) => h("option", { value: c, selected: initial && initial.category === c }, c)));
    if (!initial) category.selectedIndex = -1;
    description.textContent = guideline.label_descriptions[category.value] || "";
    pick = (digit) => {
      if (digit > Math.min(9, guideline.labels.length)) return false;
      category.selectedIndex = digit - 1;
      category.dispatchEvent(new Event("change"));
      return true;
    };
    parts.push(h("p", { class: "hint", id: "category-keys" }, guideline.labels.slice(0, 9).map((c, i) =>
      h("span", { class: "key-choice" }, h("kbd", {}, String(i + 1)), ` ${c} `))),
    
      h("label", { class: "field" }, h("span", {}, "Response"), response),
      h("label", { class: "field" }, h("span", {}, "Category"), category, description));
    if (input.response) {
      parts.push(h("details", { class: "given" },
        h("summary", {}, "Response that came with the item"),
        h("div", { class: "item-text" }, input.response)));
    }
    current = () => ({ response: response.value, category: category.value });
  }

  replace(root, h("div", { class: "instruction" }, parts));
  return {
    label: () => current(),
    changed: () => initial === null || canonical(current()) !== canonical(initial),
    onKey(event) {
      const digit = Number(event.key);
      if (event.ctrlKey || event.metaKey || event.altKey || !Number.isInteger(digit) || digit < 1) return false;
      return pick(digit);
    },
  };
}
