// Safety review: one switch per guideline category, the samples' vote next to each,
// and the rationale. A switch the reviewer changed is marked against the LLM's value.
// Keys 1-9 toggle the first nine categories.

import { canonical, clone, h, replace } from "../dom.js";

export function summarize(label) {
  const flags = (label && label.flags) || {};
  const raised = Object.keys(flags).filter((c) => flags[c]);
  return raised.length ? raised.join(", ") : "safe (no flag)";
}

export function mount(root, { claim, guideline, onChange }) {
  const llmFlags = (claim.label && claim.label.flags) || {};
  const categories = guideline.labels.length ? guideline.labels : Object.keys(llmFlags);
  const flags = Object.fromEntries(categories.map((c) => [c, llmFlags[c] === true]));
  const initial = { flags: clone(flags), rationale: (claim.label && claim.label.rationale) || null };
  const valid = claim.samples.filter((s) => s.label && s.label.flags);
  const raisedBy = (c) => valid.filter((s) => s.label.flags[c] === true).length;

  const rationale = h("textarea", {
    id: "safety-rationale", rows: 3, placeholder: "Why (optional)",
    oninput: () => onChange(),
  });
  rationale.value = initial.rationale || "";

  const toggles = [];
  const rows = categories.map((category, index) => {
    const votes = raisedBy(category);
    const toggle = h("button", {
      class: "switch", role: "switch", type: "button", "aria-checked": String(flags[category]),
      dataset: { category }, id: `flag-${category.replace(/[^a-z0-9]+/gi, "-")}`,
      "aria-label": category,
      onclick: () => {
        flags[category] = !flags[category];
        toggle.setAttribute("aria-checked", String(flags[category]));
        row.classList.toggle("changed", flags[category] !== initial.flags[category]);
        onChange();
      },
    }, h("span", { class: "switch-knob" }));
    toggles.push(toggle);
    const row = h("li", { class: "flag-row" },
      index < 9 ? h("kbd", { class: "num-key" }, String(index + 1)) : h("span", { class: "num-key" }),
      toggle,
      h("div", { class: "flag-text" },
        h("span", { class: "flag-name" }, category),
        guideline.label_descriptions[category]
          ? h("span", { class: "flag-desc" }, guideline.label_descriptions[category]) : null),
      h("div", { class: "flag-votes", title: `${votes} of ${valid.length} samples raised this flag` },
        h("span", { class: "vote-bar" }, h("span", { style: { width: `${valid.length ? (100 * votes) / valid.length : 0}%` } })),
        h("span", { class: "muted" }, `${votes}/${valid.length}`)),
      h("span", { class: "flag-llm muted" }, `LLM: ${llmFlags[category] ? "yes" : "no"}`));
    return row;
  });

  replace(root, h("div", { class: "safety" },
    h("div", { class: "item-text", id: "safety-text" }, String(claim.input.text ?? "")),
    h("h3", {}, "Categories"),
    h("ul", { class: "flags" }, rows),
    h("label", { class: "field" }, h("span", {}, "Rationale"), rationale)));

  const current = () => ({ flags: { ...flags }, rationale: rationale.value.trim() || null });
  return {
    label: current,
    changed: () => claim.label === null || canonical(current()) !== canonical(initial),
    onKey(event) {
      const digit = Number(event.key);
      if (event.ctrlKey || event.metaKey || event.altKey || !Number.isInteger(digit)) return false;
      if (digit < 1 || digit > Math.min(9, toggles.length)) return false;
      toggles[digit - 1].click();
      return true;
    },
  };
}
