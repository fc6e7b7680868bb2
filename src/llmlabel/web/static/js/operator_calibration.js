// The calibration report of a guideline version, charted: the reliability diagram
// (accuracy of judged labels per score bin) and the precision / review-rate curve over
// thresholds, from GET /v1/tasks/{task}/versions/{version}/calibration (operators).

import { api } from "./api.js";
import { barChart, legend, lineChart } from "./charts.js";
import { $, h, num, pct, replace } from "./dom.js";

const state = { tasks: [] };

document.addEventListener("llmlabel:signed-in", async (event) => {
  if (!event.detail.can_operate) {
    replace($("#calibration-box"), h("p", { class: "muted" }, "The calibration report needs an operator key."));
    return;
  }
  $("#calibration-task").addEventListener("change", () => { fillVersions(); draw(); });
  $("#calibration-version").addEventListener("change", draw);
  try {
    ({ tasks: state.tasks } = await api("GET", "/v1/tasks"));
  } catch (err) {
    replace($("#calibration-box"), h("p", { class: "error" }, err.message));
    return;
  }
  replace($("#calibration-task"), state.tasks.map((t) => h("option", { value: t.task }, t.task)));
  fillVersions();
  draw();
});

function fillVersions() {
  const task = state.tasks.find((t) => t.task === $("#calibration-task").value);
  if (!task) return;
  replace($("#calibration-version"), task.guideline_versions.map((v) =>
    h("option", { value: v, selected: v === task.active.guideline_version }, v)));
}

async function draw() {
  const task = $("#calibration-task").value;
  const version = $("#calibration-version").value;
  if (!task || !version) return;
  const box = $("#calibration-box");
  let report;
  try {
    report = await api("GET", `/v1/tasks/${encodeURIComponent(task)}/versions/${encodeURIComponent(version)}/calibration`);
  } catch (err) {
    replace(box, h("p", { class: "error" }, err.message));
    return;
  }
  const bins = report.reliability.filter((b) => b.accuracy !== null);
  const chosen = report.curve.find((r) => r.chosen);
  replace(box,
    h("p", { class: "small", id: "calibration-summary" },
      `${report.status} · threshold ${num(report.threshold, 2)} (${report.threshold_source}) · target `,
      report.target_precision === null ? "none" : pct(report.target_precision, 0),
      ` · ${report.evidence_n} judged labels · review rate ${pct(report.review_rate, 1)} · ECE ${num(report.ece, 3)}`),
    h("div", { class: "charts" },
      h("figure", {}, h("figcaption", {}, "Reliability: accuracy per score bin"),
        bins.length
          ? barChart(bins.map((b) => ({ label: `${num(b.low, 1)}–${num(b.high, 1)}`, value: b.accuracy,
            title: `${b.n} judged, mean score ${num(b.mean_score, 2)}, accuracy ${pct(b.accuracy, 1)}` })),
          { id: "chart-reliability", label: "Reliability diagram", yMax: 1, yFormat: (v) => pct(v), series: 4 })
          : h("p", { class: "muted", id: "chart-reliability" }, "No judged labels yet.")),
      h("figure", {}, h("figcaption", {}, "Precision and review rate by threshold",
        chosen ? h("span", { class: "muted small" }, ` · fitted ${num(chosen.threshold, 2)}`) : null),
        report.curve.length
          ? [lineChart(["precision", "review_rate"].map((name) => ({
            name, points: report.curve.map((r) => ({ x: r.threshold, y: r[name] })) })),
          { id: "chart-curve", label: "Precision / review-rate curve", yMax: 1, yFormat: (v) => pct(v), xFormat: (x) => num(x, 2) }),
          legend(["precision", "review rate"])]
          : h("p", { class: "muted", id: "chart-curve" }, "No curve yet: too little evidence."))));
}
