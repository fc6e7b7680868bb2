// Guideline feedback on the operator page: a pilot batch's report, or the standing report
// of a project's guideline version (GET /v1/batches/{id}/feedback, GET
// /v1/projects/{name}/feedback): per label, category or span type, how often reviewers
// change the LLM's answer, what into (with example items), and how two reviewers agree.

import { api } from "./api.js";
import { $, h, num, pct, replace } from "./dom.js";

// `drawn` numbers the requests: only the latest one asked for may draw (a slow answer for
// an earlier choice must not replace the one on screen).
const state = { projects: [], drawn: 0 };

document.addEventListener("llmlabel:signed-in", (event) => {
  if (!event.detail.can_operate) {
    replace($("#feedback-box"), h("p", { class: "muted" }, "Guideline feedback needs an operator key."));
    return;
  }
  $("#feedback-source").addEventListener("change", () => { fillVersions(); draw(); });
  $("#feedback-version").addEventListener("change", draw);
  $("#feedback-refresh").addEventListener("click", load);
  load();
});

async function load() {
  let batches;
  try {
    [{ projects: state.projects }, { batches }] = await Promise.all([
      api("GET", "/v1/projects"), api("GET", "/v1/batches?limit=100")]);
  } catch (err) {
    replace($("#feedback-box"), h("p", { class: "error" }, err.message));
    return;
  }
  const chosen = $("#feedback-source").value;
  const pilots = batches.filter((b) => b.pilot);
  replace($("#feedback-source"),
    pilots.length ? h("optgroup", { label: "Pilot batches" }, pilots.map((b) =>
      h("option", { value: `batch:${b.id}`, selected: chosen === `batch:${b.id}` }, `${b.id} (${b.task})`))) : null,
    h("optgroup", { label: "Project versions" }, state.projects.map((p) =>
      h("option", { value: `project:${p.name}`, selected: chosen === `project:${p.name}` }, p.name))));
  fillVersions();
  draw();
}

function fillVersions() {
  const [kind, name] = splitSource();
  const select = $("#feedback-version");
  const project = kind === "project" && state.projects.find((p) => p.name === name);
  select.disabled = !project;
  replace(select, project ? project.guideline_versions.map((v) =>
    h("option", { value: v, selected: v === project.guideline_version }, v)) : []);
}

function splitSource() {
  const value = $("#feedback-source").value || "";
  const at = value.indexOf(":");
  return [value.slice(0, at), value.slice(at + 1)];
}

async function draw() {
  const [kind, name] = splitSource();
  if (!kind) return;
  const box = $("#feedback-box");
  const mine = ++state.drawn;
  let answer;
  try {
    answer = kind === "batch"
      ? await api("GET", `/v1/batches/${encodeURIComponent(name)}/feedback`)
      : await api("GET", `/v1/projects/${encodeURIComponent(name)}/feedback?guideline_version=${encodeURIComponent($("#feedback-version").value)}`);
  } catch (err) {
    if (mine === state.drawn) replace(box, h("p", { class: "error" }, err.message));
    return;
  }
  if (mine !== state.drawn) return;
  const r = answer.report;
  const waiting = kind === "batch" ? ` · ${answer.waiting} waiting for review` : ` · ${answer.batches_scanned} batches`;
  replace(box,
    h("p", { class: "small", id: "feedback-summary" },
      `${r.reviewed} reviewed (${r.approved} approved, ${r.fixed} fixed, ${r.rejected} rejected) · fix rate ${pct(r.fix_rate, 1)}`,
      ` · ${r.reviewed_twice} reviewed twice${waiting}`),
    r.rows.length ? rowsTable(r.rows) : h("p", { class: "muted" }, "No reviewed labels yet."));
}

function rowsTable(rows) {
  const cols = ["Row", "Judged", "Changed", "Fix rate", "Reviewers agree", "Alpha", "Confusions (LLM → people)"];
  const numeric = new Set(["Judged", "Changed", "Fix rate", "Reviewers agree", "Alpha"]);
  return h("table", { class: "table", id: "feedback-table" },
    h("thead", {}, h("tr", {}, cols.map((c) => h("th", { scope: "col", class: numeric.has(c) ? "num" : "" }, c)))),
    h("tbody", {}, rows.map((row) => h("tr", { dataset: { row: row.row } },
      h("td", {}, row.row),
      h("td", { class: "num" }, String(row.judged)),
      h("td", { class: "num" }, String(row.changed)),
      h("td", { class: "num fix-rate" }, pct(row.fix_rate, 0)),
      h("td", { class: "num" }, row.reviewers ? `${pct(row.reviewers.agreement, 0)} of ${row.reviewers.n_pairs}` : "—"),
      h("td", { class: "num" }, row.reviewers && row.reviewers.alpha !== null ? num(row.reviewers.alpha, 2) : "—"),
      h("td", {}, h("ul", { class: "confusions small" }, row.confusions.map((c) => h("li", {
        title: c.examples.map((e) => `${e.id}: ${e.snippet}`).join("\n"),
      }, `${c.llm} → ${c.people} ×${c.count}`, " ",
      h("span", { class: "muted" }, c.examples.map((e) => e.detail ? `${e.id} “${e.detail}”` : e.id).join(", "))))))))));
}
