// Classification review: one class (radio buttons) or any set of classes (check boxes),
// as the guideline's `options.multi_label` says, with the samples' votes per class.
// Keys 1-9 pick (or, multi-label, toggle) the first nine classes.

import { canonical, h, replace } from "../dom.js";

export function summarize(label) {
  if (!label) return "no label";
  return "labels" in label ? (label.labels.join(", ") || "none") : String(label.label);
}

export function mount(root, { claim, guideline, onChange }) {
  const multi = Boolean(guideline.options && guideline.options.multi_label);
  const initial = claim.label;
  const chosen = new Set(initial ? (multi ? initial.labels || [] : [initial.label]) : []);
  const valid = claim.samples.filter((s) => s.label);
  const votes = (c) => valid.filter((s) => (multi ? (s.label.labels || []).includes(c) : s.label.label === c)).length;

  const inputs = [];
  const options = guideline.labels.map((c, index) => {
    const input = h("input", {
      type: multi ? "checkbox" : "radio", name: "class", value: c, checked: chosen.has(c),
      onchange: () => {
        if (!multi) chosen.clear();
        if (input.checked) chosen.add(c); else chosen.delete(c);
        onChange();
      },
    });
    inputs.push(input);
    return h("label", { class: "choice-row" },
      index < 9 ? h("kbd", { class: "num-key" }, String(index + 1)) : h("span", { class: "num-key" }), input,
      h("span", { class: "flag-text" }, h("span", { class: "flag-name" }, c),
        guideline.label_descriptions[c] ? h("span", { class: "flag-desc" }, guideline.label_descriptions[c]) : null),
      h("span", { class: "muted" }, `${votes(c)}/${valid.length}`));
  });

  replace(root, h("div", { class: "classification" },
    h("div", { class: "item-text" }, String(claim.input.text ?? "")),
    h("h3", {}, multi ? "Classes (any number)" : "Class"),
    h("div", { class: "choices" }, options)));

  const current = () => (multi
    ? { labels: guideline.labels.filter((c) => chosen.has(c)) }
    : { label: [...chosen][0] ?? null });
  return {
    label: current,
    changed: () => initial === null || canonical(current()) !== canonical(initial),
    onKey(event) {
      const digit = Number(event.key);
      if (event.ctrlKey || event.metaKey || event.altKey || !Number.isInteger(digit)) return false;
      if (digit < 1 || digit > Math.min(9, inputs.length)) return false;
      const input = inputs[digit - 1];
      if (multi || !input.checked) input.click();
      return true;
    },
  };
}
