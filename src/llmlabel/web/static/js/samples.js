// The side panel's "where the samples disagreed": samples grouped by answer with
// their counts, the task's aggregation detail, and every raw sample on demand.

import { canonical, h, num } from "./dom.js";

const SHOWN = 4;

/** Samples grouped by answer (largest group first); invalid samples grouped by error. */
export function groupSamples(samples, summarize, consensus) {
  const groups = new Map();
  for (const sample of samples) {
    const valid = Boolean(sample.label);
    const key = valid ? canonical(sample.label) : `error:${sample.error || "unusable"}`;
    if (!groups.has(key)) {
      groups.set(key, {
        text: valid ? summarize(sample.label) : `unusable: ${sample.error || "no label"}`,
        valid, count: 0, consensus: valid && consensus !== null && key === canonical(consensus),
      });
    }
    groups.get(key).count += 1;
  }
  return [...groups.values()].sort((a, b) => b.count - a.count || Number(b.valid) - Number(a.valid));
}

function value(v) {
  if (v === null || v === undefined) return h("span", { class: "muted" }, "—");
  if (typeof v === "number") return num(v, 3);
  if (typeof v !== "object") return String(v);
  if (Array.isArray(v) && v.every((x) => typeof x !== "object" || x === null)) {
    return v.map((x) => (typeof x === "number" ? num(x, 2) : String(x))).join(", ") || "[]";
  }
  if (!Array.isArray(v) && Object.values(v).every((x) => typeof x !== "object" || x === null)) {
    return h("ul", { class: "kv-inline" }, Object.entries(v).map(([k, x]) =>
      h("li", {}, h("span", { class: "muted" }, `${k} `), typeof x === "number" ? num(x, 2) : String(x))));
  }
  return h("details", {}, h("summary", {}, Array.isArray(v) ? `${v.length} entries` : "object"),
    h("pre", { class: "mono small" }, JSON.stringify(v, null, 1)));
}

/** Render the panel body for one claim. */
export function samplesPanel(claim, summarize) {
  const total = claim.samples.length;
  const groups = groupSamples(claim.samples, summarize, claim.label);
  const item = (g) => h("li", {
    class: `${g.valid ? "" : "invalid"} ${g.consensus ? "consensus" : ""}`.trim(),
  },
  h("div", { class: "group-head" },
    h("span", { class: "group-count" }, `${g.count}×`),
    h("span", { class: "group-text" }, g.text),
    g.consensus ? h("span", { class: "pill pill-ok" }, "consensus") : null),
  h("span", { class: "vote-bar" }, h("span", { style: { width: `${total ? (100 * g.count) / total : 0}%` } })));
  // Many distinct answers (safety flags, free text) would bury the detail: show the largest groups.
  const list = h("ul", { class: "sample-groups", id: "sample-groups" }, groups.slice(0, SHOWN).map(item),
    groups.length > SHOWN ? h("li", { class: "more" }, h("details", {},
      h("summary", {}, `${groups.length - SHOWN} more distinct answers`),
      h("ul", { class: "sample-groups" }, groups.slice(SHOWN).map(item)))) : null);

  const detail = Object.entries(claim.detail || {});
  return [
    h("p", { class: "llm-label" }, h("span", { class: "muted" }, "LLM consensus: "),
      h("strong", {}, claim.label === null ? "none (no usable sample)" : summarize(claim.label))),
    total ? list : h("p", { class: "muted" }, "No samples were kept for this item."),
    detail.length ? h("dl", { class: "kv", id: "sample-detail" },
      detail.map(([k, v]) => [h("dt", {}, k.replace(/_/g, " ")), h("dd", {}, value(v))])) : null,
    total ? h("details", { class: "raw-samples" }, h("summary", {}, `All ${total} samples`),
      h("ol", {}, claim.samples.map((s) => h("li", {},
        h("span", { class: "muted small" }, `variant ${s.variant}${s.verbalized_confidence != null ? ` · says ${num(s.verbalized_confidence, 2)}` : ""}`),
        h("pre", { class: "mono small" }, s.raw))))) : null,
  ];
}
