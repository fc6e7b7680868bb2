// Evaluations of versions on gold (the latest few per task) on the operator page: state,
// accuracy and review rate, and for preference the position bias an operator must see
// before trusting a version: how often the first-shown response wins against chance,
// and how often the same response wins when the order is changed.

import { api } from "./api.js";
import { $, ago, h, pct, replace } from "./dom.js";

const PER_TASK = 3;

document.addEventListener("llmlabel:signed-in", (event) => {
  const me = event.detail;
  $("#evaluations-refresh").addEventListener("click", () => loadEvaluations(me));
  loadEvaluations(me);
});

/** The position-bias cell of one report: "first shown 62% (chance 50%) · same winner 71%". */
export function positionBias(bias) {
  if (!bias) return h("span", { class: "muted small" }, "—");
  const n = `${bias.n_samples} samples, ${bias.n_order_pairs} cross-order pairs`;
  return h("span", { class: "position-bias", title: n },
    `first shown ${pct(bias.first_shown_share)} (chance ${pct(bias.chance_first_shown)})`,
    " · ", `same winner across orders ${pct(bias.order_consistency)}`);
}

async function loadEvaluations(me) {
  const el = $("#evaluations");
  if (!me.can_operate) {
    replace(el, h("p", { class: "muted" }, "Evaluations need an operator key."));
    return;
  }
  try {
    const { tasks } = await api("GET", "/v1/tasks");
    const lists = await Promise.all(tasks.map((t) =>
      api("GET", `/v1/tasks/${encodeURIComponent(t.task)}/evaluations?limit=${PER_TASK}`)));
    const rows = lists.flatMap((list) => list.evaluations.map((e) => row(e)));
    if (!rows.length) {
      replace(el, h("p", { class: "muted" },
        "No evaluations yet: POST /v1/tasks/{task}/versions/{version}/evaluate."));
      return;
    }
    const cols = ["Task", "Versions", "State", "Items", "Accuracy", "Review rate", "Position bias"];
    const numeric = new Set(["Items", "Accuracy", "Review rate"]);
    replace(el, h("table", { class: "table", id: "evaluations-table" },
      h("thead", {}, h("tr", {}, cols.map((c) => h("th", { scope: "col", class: numeric.has(c) ? "num" : "" }, c)))),
      h("tbody", {}, rows)));
  } catch (err) {
    replace(el, h("p", { class: "error" }, err.message));
  }
}

function row(e) {
  const report = e.report;
  return h("tr", { dataset: { task: e.task, evaluation: e.id } },
    h("td", {}, e.task),
    h("td", { class: "muted small" }, `g ${e.guideline_version} · p ${e.prompt_version}`),
    h("td", { title: e.error || "" }, h("span", { class: `pill pill-${e.state}` }, e.state),
      " ", h("span", { class: "muted small" }, ago(e.finished_at || e.started_at || e.created_at))),
    h("td", { class: "num" }, report ? String(report.n) : "—"),
    h("td", { class: "num" }, report ? pct(report.accuracy) : "—"),
    h("td", { class: "num" }, report ? pct(report.review_rate) : "—"),
    h("td", {}, positionBias(report && report.position_bias)));
}
