// The operator page's charts, drawn as inline SVG from the JSON routes: one batch's
// labeled / review / failed over time, review rate and cost per batch, agreement per
// version over time, and the review queue's depth and oldest waiting item.

import { api } from "./api.js";
import { barChart, legend, lineChart } from "./charts.js";
import { $, h, money, num, pct, replace, toast } from "./dom.js";

const ROUTED = ["needs_review", "in_review", "approved", "fixed", "rejected"];
const state = { batches: [], batch: null };

document.addEventListener("llmlabel:signed-in", () => {
  $("#chart-batch").addEventListener("change", (e) => { state.batch = e.target.value; drawTimeline(); });
  $("#charts-refresh").addEventListener("click", drawAll);
  drawAll();
});

const time = (epoch) => new Date(epoch * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
const ageText = (s) => (s === null || s === undefined ? "—" : s < 90 ? `${Math.round(s)} s` : s < 5400 ? `${Math.round(s / 60)} min` : `${(s / 3600).toFixed(1)} h`);

function reviewRate(counts) {
  const routed = ROUTED.reduce((sum, s) => sum + (counts[s] || 0), 0);
  const labeled = routed + (counts.auto_accepted || 0);
  return labeled ? routed / labeled : 0;
}

async function drawAll() {
  try {
    const { batches } = await api("GET", "/v1/batches?limit=20");
    state.batches = batches;
    if (!state.batch || !batches.some((b) => b.id === state.batch)) state.batch = batches.length ? batches[0].id : null;
    replace($("#chart-batch"), batches.map((b) => h("option", { value: b.id, selected: b.id === state.batch }, `${b.task} · ${b.id}`)));
    drawBatches(batches);
  } catch (err) {
    toast(`Charts: ${err.message}`, "error");
  }
  drawTimeline();
  drawAgreement();
  drawQueue();
}

function empty(id, text) {
  return h("p", { class: "muted", id }, text);
}

async function drawTimeline() {
  const box = $("#chart-timeline-box");
  if (!state.batch) { replace(box, empty("chart-timeline", "No batches yet.")); return; }
  try {
    const t = await api("GET", `/v1/stats/batches/${encodeURIComponent(state.batch)}/timeline?buckets=12`);
    const names = ["labeled", "review", "failed"];
    const series = names.map((name) => ({ name, points: t.points.map((p) => ({ x: p.at, y: p[name] })) }));
    replace(box, lineChart(series, { id: "chart-timeline", label: `Batch ${t.batch_id}: items labeled, sent to review and failed over time`,
      yMax: Math.max(1, t.total), xFormat: time }), legend(names));
  } catch (err) {
    replace(box, h("p", { class: "error" }, err.message));
  }
}

function drawBatches(batches) {
  // Oldest left, as a time axis reads.
  const shown = [...batches].reverse();
  const label = (b) => b.id.slice(-4);
  replace($("#chart-review-rate-box"), shown.length
    ? barChart(shown.map((b) => ({ label: label(b), value: reviewRate(b.counts), title: `${b.task} ${b.id}: ${pct(reviewRate(b.counts), 1)} sent to review` })),
      { id: "chart-review-rate", label: "Review rate per batch", yMax: 1, yFormat: (v) => pct(v) })
    : empty("chart-review-rate", "No batches yet."));
  replace($("#chart-cost-box"), shown.length
    ? barChart(shown.map((b) => ({ label: label(b), value: b.usage.cost_usd, title: `${b.task} ${b.id}: ${money(b.usage.cost_usd)}` })),
      { id: "chart-cost", label: "Cost per batch (USD)", yFormat: money, series: 3 })
    : empty("chart-cost", "No batches yet."));
}

async function drawAgreement() {
  const box = $("#chart-agreement-box");
  try {
    const report = await api("GET", "/v1/stats/agreement?buckets=10");
    const series = report.series.map((s) => ({
      name: `${s.task} ${s.guideline_version || "?"}`,
      points: s.points.filter((p) => p.agreement !== null).map((p) => ({ x: p.at, y: p.agreement })),
    })).filter((s) => s.points.length);
    replace(box, series.length
      ? [lineChart(series, { id: "chart-agreement", label: "Reviewers kept the LLM's label (share), per task and guideline version",
        yMax: 1, yFormat: (v) => pct(v), xFormat: time }), legend(series.map((s) => s.name))]
      : empty("chart-agreement", "No approved or fixed items yet."));
  } catch (err) {
    replace(box, h("p", { class: "error" }, err.message));
  }
}

async function drawQueue() {
  const box = $("#chart-queue-box");
  try {
    const q = await api("GET", "/v1/stats/queue");
    replace(box,
      h("p", { class: "queue-summary", id: "queue-summary" }, h("strong", {}, String(q.depth)), " waiting · ",
        String(q.in_review), " held · oldest waiting ", h("strong", { id: "queue-oldest" }, ageText(q.oldest_waiting_s))),
      q.tasks.length
        ? barChart(q.tasks.map((t) => ({ label: t.task, value: t.depth,
          title: `${t.task}: ${t.depth} waiting, ${t.in_review} held, oldest ${ageText(t.oldest_waiting_s)}` })),
        { id: "chart-queue", label: "Items waiting for review per task", series: 1,
          // A multiple of 4, so the four grid lines fall on whole items.
          yMax: Math.max(4, Math.ceil(Math.max(...q.tasks.map((t) => t.depth)) / 4) * 4), yFormat: (v) => num(v, 0) })
        : empty("chart-queue", "Nothing waits for review."));
  } catch (err) {
    replace(box, h("p", { class: "error" }, err.message));
  }
}
