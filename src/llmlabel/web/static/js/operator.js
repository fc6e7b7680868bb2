// The operator page: batches with progress, cost and review rate; guideline/prompt
// versions per task with activate and roll back; reviewer-vs-LLM and
// reviewer-vs-reviewer agreement; reviewer and LLM accuracy on gold items.

import { api, initSession, session } from "./api.js";
import { $, ago, compact, h, money, num, pct, replace, toast } from "./dom.js";

const ROUTED = ["needs_review", "in_review", "approved", "fixed", "rejected"];
const STATES = ["queued", "labeling", "auto_accepted", "needs_review", "in_review", "approved", "fixed", "rejected", "failed"];
const state = { me: null, openBatch: null };

initSession(start);

function start(me) {
  state.me = me;
  $("#refresh").addEventListener("click", refreshAll);
  refreshAll();
  setInterval(() => { if (!document.hidden) loadBatches(); }, 5000);
}

function refreshAll() {
  loadBatches();
  loadVersions();
  loadAgreement();
  loadGold();
}

// -- batches -----------------------------------------------------------------------

/** Share of labeled items the router sent to people (None while nothing is labeled). */
export function reviewRate(counts) {
  const routed = ROUTED.reduce((sum, s) => sum + (counts[s] || 0), 0);
  const labeled = routed + (counts.auto_accepted || 0);
  return labeled ? routed / labeled : null;
}

function progress(batch) {
  const done = Math.round(batch.progress * 100);
  return h("div", { class: "progress", title: `${batch.done} of ${batch.total} items in a final state` },
    h("div", { class: "bar" }, h("span", { style: { width: `${done}%` } })),
    h("span", { class: "small" }, `${batch.done}/${batch.total}`));
}

async function loadBatches() {
  try {
    const { batches } = await api("GET", "/v1/batches?limit=50");
    const body = $("#batches tbody");
    replace(body, batches.length ? batches.map((b) => {
      const usage = b.usage;
      const row = h("tr", {
        tabindex: 0, class: b.id === state.openBatch ? "selected" : "", dataset: { batch: b.id },
        onclick: () => showBatch(b.id),
        onkeydown: (e) => { if (e.key === "Enter") showBatch(b.id); },
      },
      h("td", { class: "mono" }, b.id, " ", h("span", { class: `pill pill-${b.state}` }, b.state),
        b.pilot ? [" ", h("span", { class: "pill pill-pilot", title: `every item reviewed, ${pct(b.double_review_share)} twice` }, "pilot")] : null),
      h("td", {}, b.task),
      h("td", { class: "muted small" }, `g ${b.guideline_version} · p ${b.prompt_version}`),
      h("td", { class: "muted small", title: new Date(b.created_at * 1000).toLocaleString() }, ago(b.created_at)),
      h("td", {}, progress(b)),
      h("td", { class: "num review-rate" }, pct(reviewRate(b.counts))),
      h("td", { class: "num" }, String(b.counts.needs_review + b.counts.in_review)),
      h("td", { class: `num ${b.counts.failed ? "error" : ""}` }, String(b.counts.failed)),
      h("td", { class: "num", title: `${usage.prompt_tokens} prompt (${usage.cached_tokens} cached) + ${usage.completion_tokens} completion` },
        compact(usage.prompt_tokens + usage.completion_tokens)),
      h("td", { class: "num" }, money(usage.cost_usd)));
      return row;
    }) : h("tr", {}, h("td", { colspan: 10, class: "muted" }, "No batches yet. Submit one with POST /v1/batches.")));
    $("#batches-updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
    if (state.openBatch) showBatch(state.openBatch, { quiet: true });
  } catch (err) {
    toast(`Batches: ${err.message}`, "error");
  }
}

async function showBatch(id, { quiet = false } = {}) {
  const panel = $("#batch-detail");
  try {
    const b = await api("GET", `/v1/batches/${encodeURIComponent(id)}`);
    state.openBatch = id;
    for (const row of document.querySelectorAll("#batches tbody tr")) row.classList.toggle("selected", row.dataset.batch === id);
    const u = b.usage;
    replace(panel,
      h("header", { class: "card-head" }, h("h3", {}, `Batch ${b.id}`),
        h("button", { class: "small", onclick: () => download(b.id) }, "Download results (NDJSON)"),
        b.counts.failed && state.me.can_operate
          ? h("button", { class: "small", onclick: () => retryFailed(b.id) }, `Retry ${b.counts.failed} failed`) : null,
        h("button", { class: "icon", "aria-label": "Close", onclick: () => { state.openBatch = null; panel.hidden = true; } }, "×")),
      h("ul", { class: "state-chips" }, STATES.map((s) => h("li", { class: `chip chip-${s}` },
        h("span", { class: "chip-n" }, String(b.counts[s] || 0)), ` ${s.replace("_", " ")}`))),
      h("dl", { class: "kv kv-row" },
        h("dt", {}, "calls"), h("dd", {}, String(u.calls)),
        h("dt", {}, "prompt tokens"), h("dd", {}, `${u.prompt_tokens} (${u.cached_tokens} cached)`),
        h("dt", {}, "completion tokens"), h("dd", {}, String(u.completion_tokens)),
        h("dt", {}, "cost"), h("dd", {}, money(u.cost_usd)),
        h("dt", {}, "cost per item"), h("dd", {}, money(b.done ? u.cost_usd / b.done : 0)),
        h("dt", {}, "review rate"), h("dd", {}, pct(reviewRate(b.counts), 1)),
        Object.keys(b.metadata || {}).length ? [h("dt", {}, "metadata"), h("dd", { class: "mono small" }, JSON.stringify(b.metadata))] : null));
    panel.hidden = false;
  } catch (err) {
    if (!quiet) toast(`Batch ${id}: ${err.message}`, "error");
  }
}

async function retryFailed(id) {
  try {
    const result = await api("POST", `/v1/batches/${encodeURIComponent(id)}/retry-failed`);
    toast(`Re-queued ${result.requeued} failed item(s).`, "ok");
    loadBatches();
  } catch (err) {
    toast(`Retry failed: ${err.message}`, "error");
  }
}

// Results stream with the bearer key, so a plain link cannot fetch them.
async function download(id) {
  const response = await fetch(`/v1/batches/${encodeURIComponent(id)}/results`, {
    headers: { Authorization: `Bearer ${session.key}` },
  });
  if (!response.ok) { toast(`Download failed: HTTP ${response.status}`, "error"); return; }
  const url = URL.createObjectURL(await response.blob());
  const link = h("a", { href: url, download: `${id}.jsonl` });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// -- versions ----------------------------------------------------------------------

async function loadVersions() {
  try {
    const { tasks } = await api("GET", "/v1/tasks");
    replace($("#versions"), tasks.map(taskCard));
  } catch (err) {
    replace($("#versions"), h("p", { class: "error" }, err.message));
  }
}

function taskCard(t) {
  const active = t.active;
  const canOperate = state.me.can_operate;
  const promptSelect = h("select", { "aria-label": `Prompt version for ${t.task}`, class: "small-select" },
    t.prompt_versions.map((p) => h("option", { value: p, selected: p === active.prompt_version }, p)));
  const history = h("div", { class: "history" });
  const details = h("details", {
    ontoggle: () => { if (details.open) loadHistory(t.task, history); },
  }, h("summary", {}, "History"), history);
  return h("div", { class: "task-versions", id: `task-${t.task}`, dataset: { task: t.task } },
    h("div", { class: "task-head" },
      h("h3", {}, t.task),
      h("span", { class: "active-versions" }, "active: ",
        h("strong", { class: "active-guideline" }, active.guideline_version), " · prompt ",
        h("strong", {}, active.prompt_version)),
      h("span", { class: `pill ${active.pinned ? "pill-ok" : ""}` }, active.pinned ? "activated" : "latest on disk")),
    h("div", { class: "version-row" },
      h("span", { class: "muted small" }, "guideline"),
      t.guideline_versions.map((v) => h("button", {
        class: `small version ${v === active.guideline_version ? "current" : ""}`,
        dataset: { version: v }, "aria-pressed": String(v === active.guideline_version),
        disabled: !canOperate || (v === active.guideline_version && active.pinned),
        title: canOperate ? `Activate ${t.task} guideline ${v} with the chosen prompt` : "Needs an operator key",
        onclick: () => activate(t.task, v, promptSelect.value),
      }, v === active.guideline_version ? `${v} ✓` : `Activate ${v}`)),
      h("span", { class: "muted small" }, "prompt"), promptSelect,
      h("button", {
        class: "small rollback", disabled: !canOperate, title: canOperate ? "Re-activate the previous pair" : "Needs an operator key",
        onclick: () => rollback(t.task),
      }, "Roll back")),
    details);
}

async function loadHistory(task, el) {
  try {
    const { history } = await api("GET", `/v1/tasks/${encodeURIComponent(task)}/versions`);
    replace(el, history.length ? h("ol", { class: "events" }, history.slice(0, 10).map((e) => h("li", {},
      h("span", { class: "muted small" }, new Date(e.at * 1000).toLocaleString()), " ",
      h("strong", {}, e.action), ` by ${e.actor} `,
      h("span", { class: "mono small" }, `${versionsText(e.before)} → ${versionsText(e.after)}`))))
      : h("p", { class: "muted small" }, "Never activated: new batches use the latest files on disk."));
  } catch (err) {
    replace(el, h("p", { class: "error" }, err.message));
  }
}

function versionsText(v) {
  if (!v) return "—";
  const g = v.guideline_version;
  const p = v.prompt_version;
  return g || p ? `${g ?? "latest"}/${p ?? "latest"}` : "latest on disk";
}

async function activate(task, version, promptVersion) {
  try {
    const active = await api("POST", `/v1/tasks/${encodeURIComponent(task)}/versions/${encodeURIComponent(version)}/activate`,
      { prompt_version: promptVersion });
    toast(`${task}: guideline ${active.guideline_version} with prompt ${active.prompt_version} is active.`, "ok");
  } catch (err) {
    toast(`Activate failed: ${err.message}`, "error");
  }
  loadVersions();
}

async function rollback(task) {
  try {
    const active = await api("POST", `/v1/tasks/${encodeURIComponent(task)}/rollback`);
    toast(`${task}: rolled back to guideline ${active.guideline_version}, prompt ${active.prompt_version}.`, "ok");
  } catch (err) {
    toast(`Roll back failed: ${err.message}`, "error");
  }
  loadVersions();
}

// -- agreement ---------------------------------------------------------------------

/**
 * The measures of one group. Per-category families ("kappa/hate", "kappa/sexual", ...)
 * are shown as their mean over defined values, with every value one click away.
 */
export function measures(summary) {
  const families = new Map();
  for (const [name, value] of Object.entries(summary.metrics)) {
    const [family] = name.split("/");
    if (!families.has(family)) families.set(family, []);
    families.get(family).push([name, value]);
  }
  const shown = [];
  for (const [family, entries] of families) {
    if (entries.length < 3) {
      for (const [name, value] of entries) shown.push(h("li", {}, h("span", { class: "muted" }, `${name} `), num(value, 2)));
      continue;
    }
    const defined = entries.map(([, v]) => v).filter((v) => v !== null);
    const mean = defined.length ? defined.reduce((a, b) => a + b, 0) / defined.length : null;
    shown.push(h("li", { title: `mean over ${defined.length} of ${entries.length} categories with a defined value` },
      h("span", { class: "muted" }, `${family} (mean of ${defined.length}) `), num(mean, 2)));
  }
  const all = Object.entries(summary.metrics);
  return [
    h("ul", { class: "kv-inline" }, shown, h("li", { class: "muted small" }, `${summary.n_pairs} pairs`)),
    all.length > shown.length ? h("details", {}, h("summary", {}, "all measures"),
      h("dl", { class: "kv" }, all.map(([k, v]) => [h("dt", {}, k), h("dd", {}, num(v, 2))]))) : null,
  ];
}

async function loadAgreement() {
  try {
    const report = await api("GET", "/v1/agreement");
    if (!report.groups.length) {
      replace($("#agreement"), h("p", { class: "muted" }, "No reviewed items yet."));
      return;
    }
    const numeric = new Set(["Reviewed", "Approved", "Fixed", "Rejected"]);
    const head = h("tr", {}, ["Task", "Reviewed", "Approved", "Fixed", "Rejected", "Measures"]
      .map((c) => h("th", { scope: "col", class: numeric.has(c) ? "num" : "" }, c)));
    const rows = report.groups.map((g) => h("tr", { dataset: { task: g.task, version: g.guideline_version } },
      h("td", {}, g.task, h("br"), h("span", { class: "muted small" }, `g ${g.guideline_version} · p ${g.prompt_version}`)),
      h("td", { class: "num" }, String(g.reviewed)),
      h("td", { class: "num" }, `${g.approved} `, h("span", { class: "muted small" }, `(${pct(g.approval_rate)})`)),
      h("td", { class: "num" }, String(g.fixed)),
      h("td", { class: "num" }, String(g.rejected)),
      h("td", { class: "measures" }, measures(g.summary),
        h("div", { class: "reviewers" }, h("span", { class: "muted small" }, "reviewer vs reviewer"),
          reviewerMeasures(g.reviewers)))));
    replace($("#agreement"), h("table", { class: "table", id: "agreement-table" },
      h("thead", {}, head), h("tbody", {}, rows)));
  } catch (err) {
    replace($("#agreement"), h("p", { class: "error" }, err.message));
  }
}

/** Reviewer-vs-reviewer agreement of a group: Krippendorff's alpha per measure, task equality. */
export function reviewerMeasures(reviewers) {
  if (!reviewers) return h("span", { class: "muted small", title: "Set LLMLABEL_DOUBLE_REVIEW_SHARE to send a share of items to a second reviewer" }, "no item reviewed twice");
  return [
    h("ul", { class: "kv-inline" },
      h("li", {}, h("span", { class: "muted" }, "same label "), pct(reviewers.agreement))),
    measures({ metrics: reviewers.alpha, n_pairs: reviewers.n_pairs }),
  ];
}

// -- gold ----------------------------------------------------------------------------

async function loadGold() {
  const el = $("#gold");
  if (!state.me.can_operate) {
    replace(el, h("p", { class: "muted" }, "Gold scores need an operator key."));
    return;
  }
  try {
    const scores = await api("GET", "/v1/gold/scores");
    if (!scores.reviewers.length && !scores.llm.length) {
      replace(el, h("p", { class: "muted" }, "No gold items scored yet. Upload some with POST /v1/gold."));
      return;
    }
    const reviewers = h("table", { class: "table", id: "gold-reviewers" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Reviewer"), h("th", { scope: "col", class: "num" }, "Gold decisions"),
        h("th", { scope: "col", class: "num" }, "Accuracy"), h("th", { scope: "col" }, "Per task"))),
      h("tbody", {}, scores.reviewers.map((r) => h("tr", { dataset: { reviewer: r.reviewer } },
        h("td", {}, r.reviewer),
        h("td", { class: "num" }, String(r.n)),
        h("td", { class: "num" }, pct(r.accuracy)),
        h("td", { class: "muted small" }, r.by_task.map((t) => `${t.task} ${t.correct}/${t.n}`).join(" · "))))));
    const llm = h("table", { class: "table", id: "gold-llm" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "LLM on gold"), h("th", { scope: "col" }, "Versions"),
        h("th", { scope: "col", class: "num" }, "Items"), h("th", { scope: "col", class: "num" }, "Accuracy"))),
      h("tbody", {}, scores.llm.map((l) => h("tr", { dataset: { task: l.task, version: l.guideline_version } },
        h("td", {}, l.task),
        h("td", { class: "muted small" }, `g ${l.guideline_version} · p ${l.prompt_version}`),
        h("td", { class: "num" }, String(l.n)),
        h("td", { class: "num" }, pct(l.accuracy))))));
    replace(el, reviewers, llm);
  } catch (err) {
    replace(el, h("p", { class: "error" }, err.message));
  }
}
